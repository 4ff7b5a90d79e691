"""The control token: only who can read the sandbox's home may inject faults, reset, save or load,
or get an instance role's keys.

The sandbox writes a new random token at each start to `<home>/sandbox/<port>.token` (mode
0600); the project's tasks and tests read it and send it as the X-Bootcamp-Token header. A
control call without it is refused (403), as a learner's AWS tools never send it. Health,
stats and the app registry stay open: they change no account.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

HEADER = "X-Bootcamp-Token"
PROTECTED = ("/_bootcamp/faults", "/_bootcamp/state", "/_bootcamp/instance-keys", "/moto-api")


def write(path: Path) -> str:
    """A new token, written where only this user can read it."""
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return token


def refused(path: str, environ, token: str | None) -> bool:
    """Whether a control call lacks the token it needs (never, when the sandbox has none)."""
    if token is None or not path.startswith(PROTECTED):
        return False
    given = environ.get("HTTP_X_BOOTCAMP_TOKEN", "")
    return not hmac.compare_digest(given.encode(), token.encode())


def read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
