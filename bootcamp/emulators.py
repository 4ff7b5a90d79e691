"""Which AWS emulator answers for the localstack target, what it serves and what it lacks.

The facts live in emulators.toml; these functions only read them and an emulator's health answer.
"""

from __future__ import annotations

import json
import re
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

INSTEAD = "use --target embedded (the default sandbox) or --target aws"
CATALOG = Path(__file__).with_name("emulators.toml")
NOT_SERVED = {"disabled", "error"}  # LocalStack's states for a service it will not answer


@dataclass(frozen=True)
class Emulator:
    name: str
    health: str  # the path of its health answer
    names: dict[str, str] = field(default_factory=dict)  # boto3's service name -> the health answer's
    unanswered: dict[str, str] = field(default_factory=dict)  # why a service listed there may fail its read


@dataclass(frozen=True)
class Gap:
    emulator: str
    need: str  # as a lab's `needs` names it, e.g. "autoscaling:PutNotificationConfiguration"
    says: str
    since: str = "0"
    before: str = ""

    def applies(self, emulator: str, version: str) -> bool:
        if emulator != self.emulator:
            return False
        v = version_key(version)
        return v >= version_key(self.since) and (not self.before or v < version_key(self.before))


@dataclass(frozen=True)
class Found:
    """An emulator that answered: which one, its version, and the services (boto3's names) it serves."""

    emulator: Emulator
    version: str
    services: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.emulator.name} {self.version}".strip()


@cache
def catalog() -> tuple[tuple[Emulator, ...], tuple[Gap, ...], dict[str, str]]:
    data = tomllib.loads(CATALOG.read_text(encoding="utf-8"))
    return (tuple(Emulator(**e) for e in data["emulators"]), tuple(Gap(**g) for g in data.get("gaps", ())),
            dict(data.get("services", {})))


def version_key(version: str) -> tuple[int, ...]:
    """'1.5.33' -> (1, 5, 33); a part that is not a number ends the key ('2026.3.0.dev1' -> (2026, 3, 0))."""
    key = []
    for part in str(version).split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        key.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(key)


def long_name(service: str) -> str:
    return catalog()[2].get(service, service)


def served(emulator: Emulator, answer: dict) -> frozenset[str]:
    """The services a health answer says are served, by boto3's names."""
    listed = {name for name, state in answer.get("services", {}).items() if str(state) not in NOT_SERVED}
    theirs = {v: k for k, v in emulator.names.items()}
    return frozenset(theirs.get(name, name) for name in listed)


def read_json(url: str, timeout: float = 3) -> object:
    """The JSON at url, or None when nothing answers there or the answer is not JSON."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def identify(emulator: Emulator, answer: object) -> Found | None:
    if not (isinstance(answer, dict) and isinstance(answer.get("services"), dict)):
        return None
    return Found(emulator, str(answer.get("version", "")), served(emulator, answer))


def detect(base_url: str, get=read_json) -> Found | None:
    """The first emulator of the catalog whose health path answers at base_url, or None."""
    for emulator in catalog()[0]:
        found = identify(emulator, get(f"{base_url}{emulator.health}"))
        if found:
            return found
    return None


def lacks(found: Found, services: list[str], needs: list[str]) -> list[str]:
    """What a lab needs that this emulator does not serve, each in a few words."""
    missing = [f"{s} ({long_name(s)})" for s in services if s not in found.services]
    gaps = [g.says for need in needs for g in catalog()[1]
            if g.need == need and g.applies(found.emulator.name, found.version)]
    return missing + gaps


def refusal(found: Found, base_url: str, lacking: list[str]) -> str:
    return f"{found.label} at {base_url} does not serve what this lab needs: {'; '.join(lacking)}: {INSTEAD}"


def not_running(base_url: str) -> str:
    names = ", ".join(e.name for e in catalog()[0])
    return (f"no emulator ({names}) answers at {base_url}: start one (see the README's LocalStack target), "
            f"set LOCALSTACK_HOST, or {INSTEAD}")
