"""The one place input is checked before anything is made: regions, folders, output paths, numbers,
bucket names and snapshots. Each check raises one line saying what to do, and creates nothing."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tempfile
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from bootcamp.errors import BootcampError

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SNAPSHOT_SCHEMA = "aws-bootcamp-labs/inventory-1"


@cache
def known_regions() -> frozenset[str]:
    """Every region in botocore's endpoint data (its partitions file), read without loading botocore."""
    spec = importlib.util.find_spec("botocore")
    data = Path(next(iter(spec.submodule_search_locations))) / "data" / "partitions.json"
    partitions = json.loads(data.read_text(encoding="utf-8"))["partitions"]
    return frozenset(name for p in partitions for name in p.get("regions", {}))


def region(name: str, where: str = "--region") -> str:
    if name not in known_regions():
        near = sorted(r for r in known_regions() if r.split("-")[0] == str(name).split("-")[0])[:4]
        raise BootcampError(f"unknown AWS region '{name}' ({where}): use one such as "
                            f"{', '.join(near or ['us-west-2', 'us-east-1', 'eu-west-1'])}")
    return name


def count(value, what: str, low: int = 1, high: int = 256) -> int:
    """A whole number option (e.g. --workers) in [low, high]."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise BootcampError(f"{what} '{value}' is not a whole number from {low} to {high}")
    return number


def endpoint_url(url: str, target: str, what: str = "--endpoint-url") -> str:
    """An AWS-compatible endpoint for --target aws: http(s)://host[:port], nothing after the port."""
    if target != "aws":
        raise BootcampError(f"{what} (or BOOTCAMP_ENDPOINT_URL) is for --target aws, to rehearse against an "
                            f"AWS-compatible endpoint; the {target} target knows its own endpoint: leave it out")
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username
            or parts.path not in ("", "/") or parts.query or parts.fragment or port == 0):
        raise BootcampError(f"{what} '{url}' is not an endpoint URL: give http(s)://HOST[:PORT] and nothing "
                            "after the port, e.g. http://127.0.0.1:4599")
    return url


def bucket_name(name: str, what: str = "--bucket") -> str:
    if not BUCKET_NAME.match(name or "") or ".." in name:
        raise BootcampError(f"'{name}' ({what}) is not a valid S3 bucket name: 3-63 lowercase letters, "
                            "digits, dots and hyphens, e.g. employee-photo-bucket-ab-1234")
    return name


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def _can_create_in(folder: Path) -> str:
    """'' when a file can be made in folder (a probe made and removed at once), else why not."""
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".bootcamp-probe-", dir=folder)
    except OSError as exc:
        return f"{folder} cannot be written ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return ""


def writable_dir(path: Path | str, what: str) -> Path:
    """A folder that exists and can be written, or that can be made where it is named."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise BootcampError(f"{what} {path} is a file, not a folder: name a folder")
    why = _can_create_in(_existing_ancestor(path))
    if why:
        raise BootcampError(f"{what} {path} cannot be used: {why}; name a folder you can write")
    return path


def home(path: Path | str) -> Path:
    return writable_dir(path, "BOOTCAMP_HOME")


def output_file(path: Path | str, what: str) -> Path:
    """A file path that can be written (its folder may still have to be made)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise BootcampError(f"{what} {path} is a folder: give a file path, e.g. {path / 'out'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise BootcampError(f"{what} {path} cannot be written: give another path")
    why = _can_create_in(_existing_ancestor(path.parent))
    if why:
        raise BootcampError(f"{what} {path} cannot be written: {why}; give another path")
    return path


def output_dir(path: Path | str, what: str) -> Path:
    return writable_dir(path, what)


def snapshot(path: Path | str, lab_id: str) -> dict:
    """A saved inventory (`lab.grade --snapshot`) of this lab and this version, as a dict."""
    where = f"snapshot {path}"
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BootcampError(f"cannot read {where}: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError:
        raise BootcampError(f"{where} is not JSON: give a file `lab.grade --snapshot` wrote") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict) \
            or not isinstance(payload.get("data"), dict) or not isinstance(payload.get("errors", {}), dict):
        raise BootcampError(f"{where} is not a saved grade snapshot: give a file `lab.grade --snapshot` wrote")
    schema = payload["meta"].get("schema")
    if schema != SNAPSHOT_SCHEMA:
        raise BootcampError(f"{where} is of another version ({schema or 'none'}, this one reads "
                            f"{SNAPSHOT_SCHEMA}): save it again with `lab.grade --snapshot`")
    saved_lab = str(payload["meta"].get("lab", ""))
    if saved_lab != str(lab_id):
        raise BootcampError(f"{where} is of lab {saved_lab or '?'}, not lab {lab_id}: "
                            f"run `invoke lab.grade {saved_lab or 'N'} --from-snapshot {path}`")
    return payload
