"""Software updates: static files, the same bytes on every instance."""

from __future__ import annotations

import hashlib
import random

RELEASES = {"2.3.0": 2 << 20, "2.4.0": (2 << 20) + 65536, "2.5.0": 3 << 20}
FILE_CACHING, LIST_CACHING = "public, max-age=86400", "public, max-age=300"


def files(version: str) -> dict:
    return {f"employee-directory-{version}.pkg": "application/octet-stream", "release-notes.txt": "text/plain"}


def content(version: str, name: str):
    if version not in RELEASES or name not in files(version):
        return None
    if name.endswith(".txt"):
        return f"Employee Directory {version}\n".encode()
    return random.Random(f"{version}/{name}").randbytes(RELEASES[version])


def etag(text: str) -> str:
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def matches(if_none_match: str, tag: str) -> bool:
    wanted = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in wanted or tag in wanted


def listing() -> str:
    return "".join(f"<h2>Release {v}</h2><ul>" + "".join(
        f'<li><a href="/updates/{v}/{n}">{n}</a> ({len(content(v, n))} bytes)</li>' for n in files(v)) + "</ul>"
        for v in sorted(RELEASES, reverse=True))
