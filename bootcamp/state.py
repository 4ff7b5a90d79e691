"""What a lab keeps on this machine between commands (sign-in secrets): files only the user reads."""

from __future__ import annotations

import json
import os
from pathlib import Path


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
