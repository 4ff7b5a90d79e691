"""botocore's service models without their documentation, kept in a per-user cache.

A grade starts a new process and reads whole service models: EC2's is 4.3 MB of JSON, most of it
documentation that only docstrings use. The lean copy (every shape, member and operation, no
prose) is made from botocore's own file the first time and kept per botocore and Python version
(in marshal's format, which reads about three times faster than JSON), so an upgrade never reads
an old one. The list of the services botocore ships is kept there too: botocore otherwise walks
every one of its ~400 service folders to make it, once for each kind of file a client loads.
"""

from __future__ import annotations

import gc
import json
import marshal
import os
import sys
import tempfile
import weakref
from pathlib import Path

import botocore
from botocore.loaders import Loader

DOCS = ("documentation", "documentationUrl")
WHOLE = frozenset({"endpoints", "partitions"})


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    python = f"py{sys.version_info.major}{sys.version_info.minor}-m{marshal.version}"
    return Path(base) / "aws-bootcamp-labs" / f"botocore-{botocore.__version__}-{python}"


def _without_docs(part: dict) -> dict:
    return {k: v for k, v in part.items() if k not in DOCS}


def lean(model: dict) -> dict:
    """The model without prose; a member named "documentation" is a member, and stays."""
    shapes = {}
    for name, shape in model.get("shapes", {}).items():
        shape = _without_docs(shape)
        if isinstance(shape.get("members"), dict):
            shape["members"] = {n: _without_docs(m) for n, m in shape["members"].items()}
        for ref in ("member", "key", "value"):
            if isinstance(shape.get(ref), dict):
                shape[ref] = _without_docs(shape[ref])
        shapes[name] = shape
    return {**_without_docs(model), "shapes": shapes,
            "operations": {n: _without_docs(op) for n, op in model.get("operations", {}).items()}}


class LeanLoader(Loader):
    """botocore's loader, reading built-in service models from the lean cache (made on first use)."""

    def __init__(self, *args, cache: Path | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.cache = cache or cache_root()
        self._listed: dict[str, list[str]] = {}

    def load_data_with_path(self, name):
        if name in WHOLE:
            return self._whole(name)
        if not name.endswith("/service-2"):
            return super().load_data_with_path(name)
        kept = self.cache / f"{name}.marshal"
        data = _read(kept)
        if data is not None:
            return data, str(kept)
        data, path = super().load_data_with_path(name)
        if not str(path).startswith(self.BUILTIN_DATA_PATH):
            return data, path  # a model of the user's own (~/.aws/models): read as it is
        data = json.loads(json.dumps(lean(data)))  # plain dicts and lists (botocore reads OrderedDicts)
        _keep(kept, data)
        return data, path

    def _whole(self, name):
        """A data file botocore reads whole (the endpoints, 1 MB of JSON), kept as it is."""
        kept = self.cache / f"{name}.marshal"
        data = _read(kept)
        if data is not None:
            return data, str(kept)
        data, path = super().load_data_with_path(name)
        if str(path).startswith(self.BUILTIN_DATA_PATH):
            _keep(kept, json.loads(json.dumps(data)))
        return data, path

    def list_available_services(self, type_name):
        """botocore's answer, its own services' part read from the cache; other search paths looked at each time."""
        if type_name not in self._listed:
            kept = self.cache / "services" / f"{type_name}.marshal"
            builtin = _read(kept)
            if not isinstance(builtin, list):
                builtin = _services_in(self.BUILTIN_DATA_PATH, type_name, self.file_loader)
                _keep(kept, builtin)
            others = [p for p in self.search_paths if p != self.BUILTIN_DATA_PATH]
            self._listed[type_name] = sorted(set(builtin).union(
                *(_services_in(p, type_name, self.file_loader) for p in others)))
        return self._listed[type_name]


def _services_in(root: str, type_name: str, files) -> list[str]:
    """The services under one search path that have a `type_name` file in some API version."""
    if not os.path.isdir(root):
        return []
    found = []
    for service in os.listdir(root):
        folder = os.path.join(root, service)
        if os.path.isdir(folder) and any(files.exists(os.path.join(folder, version, type_name))
                                         for version in os.listdir(folder)):
            found.append(service)
    return found


def _read(path: Path):
    """What _keep wrote, or None. The collector is paused: a model is a few hundred thousand dicts,
    none in a cycle, and each gc pass over them is wasted."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    paused = gc.isenabled()
    gc.disable()
    try:
        return marshal.loads(raw)
    except (EOFError, ValueError, TypeError):
        return None
    finally:
        if paused:
            gc.enable()


def _keep(path: Path, data) -> None:
    """Write atomically (other processes may read it now); a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".model-")
        with os.fdopen(fd, "wb") as out:
            marshal.dump(data, out)
        os.replace(temporary, path)
    except (OSError, ValueError):
        pass


def install(session, warm: Loader | None = None) -> None:
    """Make a botocore session read lean models (keeping any data_path the user configured); `warm`:
    a loader that has read them already (a warm grader's), used where no data_path is configured."""
    extra = configured_paths(session.get_component("data_loader"))
    session.register_component("data_loader", warm if warm is not None and not extra else
                               LeanLoader(extra_search_paths=extra))


def share_client_classes(session) -> None:
    """Clients of this session reuse their service's client class, made once.

    botocore makes a client's class anew for each client: a method per operation (EC2 has over
    600), the 'creating-client-class' event asked again. That is 40 % of making a client (about
    11 ms of 26), and a process that signs as many identities (the tests' accounts, a grade's
    users) makes many clients of one service. The class depends only on the service, its API
    version and the session's handlers of that event, which are registered as the session is
    made; each client still gets its own instance, credentials, config and event copy.
    """
    import botocore.client

    creator = botocore.client.ClientCreator
    if not getattr(creator._create_client_class, "shared", False):
        make = creator._create_client_class

        def _create_client_class(self, service_name, service_model):
            classes = _CLIENT_CLASSES.get(self._event_emitter)
            if classes is None:
                return make(self, service_name, service_model)
            key = (service_name, service_model.api_version)
            if key not in classes:
                classes[key] = make(self, service_name, service_model)
            return classes[key]

        _create_client_class.shared = True
        creator._create_client_class = _create_client_class
    _CLIENT_CLASSES.setdefault(session.get_component("event_emitter"), {})


# A session's event emitter -> its client classes, for the sessions that share them.
_CLIENT_CLASSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def configured_paths(loader: Loader) -> list[str]:
    """The folders a loader reads beyond botocore's own: a data_path the user configured."""
    return [p for p in loader.search_paths if p not in (Loader.BUILTIN_DATA_PATH, Loader.CUSTOMER_DATA_PATH)]


def share_in_process() -> None:
    """Every botocore session made from now on in this process reads through one LeanLoader.

    The sandbox's server imports moto, whose services each make a boto3 Session at import time to
    list regions: each session made its own loader and read the endpoints and EC2's model again
    (three times each, 1.6 s of a 3 s start). A session given a data_path of its own keeps botocore's.
    """
    import botocore.session

    if getattr(botocore.session.create_loader, "shared", False):
        return
    make = botocore.session.create_loader
    one = LeanLoader()

    def create_loader(search_path_string=None):
        return one if search_path_string is None else make(search_path_string)

    create_loader.shared = True
    botocore.session.create_loader = create_loader
