"""botocore's service models without their documentation, kept in a per-user cache.

A grade starts a new process and reads whole service models: EC2's is 4.3 MB of JSON, most of it
documentation that only docstrings use. The lean copy (every shape, member and operation, no
prose) parses about four times faster; it is made from botocore's own file the first time and
kept per botocore version, so an upgrade never reads an old one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import botocore
from botocore.loaders import Loader

DOCS = ("documentation", "documentationUrl")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aws-bootcamp-labs" / f"botocore-{botocore.__version__}"


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

    def load_data_with_path(self, name):
        if not name.endswith("/service-2"):
            return super().load_data_with_path(name)
        kept = self.cache / f"{name}.json"
        try:
            return json.loads(kept.read_bytes()), str(kept)
        except (OSError, ValueError):
            pass
        data, path = super().load_data_with_path(name)
        if not str(path).startswith(self.BUILTIN_DATA_PATH):
            return data, path  # a model of the user's own (~/.aws/models): read as it is
        data = lean(data)
        _keep(kept, data)
        return data, path


def _keep(path: Path, data: dict) -> None:
    """Write atomically (other processes may read it now); a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".model-")
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, separators=(",", ":"))
        os.replace(temporary, path)
    except OSError:
        pass


def install(session) -> None:
    """Make a botocore session read lean models (keeping any data_path the user configured)."""
    current = session.get_component("data_loader")
    extra = [p for p in current.search_paths if p not in (Loader.BUILTIN_DATA_PATH, Loader.CUSTOMER_DATA_PATH)]
    session.register_component("data_loader", LeanLoader(extra_search_paths=extra))
