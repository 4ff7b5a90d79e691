"""What a lab keeps on this machine between commands (sign-in secrets): files only the user reads."""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bootcamp.errors import BootcampError


class LabState:
    """A JSON file per lab, target and account, mode 0600; never printed or reported."""

    def __init__(self, home: Path, target: str, account: str, lab_id: str):
        self.path = home / "state" / f"{target}-{account}" / f"lab{lab_id}.json"

    def load(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def save(self, data: dict) -> None:
        private_dir(self.path.parent)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        tmp.replace(self.path)

    def update(self, **values) -> dict:
        data = {**self.load(), **values}
        self.save(data)
        return data

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def private_dir(folder: Path) -> None:
    """`state/` and the folder of one target and account in it, both 0700 (an older 0755 one too)."""
    for path in (folder.parent, folder):
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)


def lab_files(home: Path, lab_id: str, target: str, account: str) -> Path:
    """Where a lab keeps the files it hands the learner (lab 3's photos), per target and account."""
    return Path(home) / f"lab{lab_id}" / f"{target}-{account}"


def app_settings_file(home: Path, target: str, account: str) -> Path:
    """Where the app run here keeps the bucket saved on its settings page, per target and account."""
    return Path(home) / "app" / f"{target}-{account}.json"


def forget_app_settings(home: Path, target: str, account: str | None = None) -> None:
    """Remove what the app saved on its settings page for one account of the target, or for all."""
    for path in (Path(home) / "app").glob(f"{target}-*.json"):
        if re.fullmatch(rf"{re.escape(target)}-{account or '[0-9]+'}\.json", path.name):
            path.unlink(missing_ok=True)


def lock_path(home: Path, target: str, account: str) -> Path:
    return Path(home) / "state" / f"{target}-{account}" / "lock"


@contextmanager
def one_at_a_time(home: Path, target: str, account: str, what: str) -> Iterator[None]:
    """Lab actions on one target and account, one at a time on this machine: a second is refused.

    The lock is the kernel's (flock), so it goes with the process that holds it, however that ends.
    """
    path = lock_path(home, target, account)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another lab action"
            raise BootcampError(f"{holder} is running on {target} account {account}: wait until it ends, "
                                f"then run {what} again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)
