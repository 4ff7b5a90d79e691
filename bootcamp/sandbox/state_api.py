"""`/_bootcamp/state`: the store's control endpoints, as (status, content type, body) for server.py.

GET  /_bootcamp/state                       where the state lives, its size, what is pending
POST /_bootcamp/state/flush                 answers once every answered change is on disk
POST /_bootcamp/state/reset[?account=A]     empties every account (or A); says what it removed
GET  /_bootcamp/state/save[?account=A]      the state (or A's) as one archive
POST /_bootcamp/state/load[?account=A&name=F]  replaces the accounts of the archive in the body
                                            (or puts its one account into A)
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from bootcamp.sandbox.store import ACCOUNT, StateRefused, Store

JSON = "application/json"


def _fail(status: int, why: str):
    return status, JSON, json.dumps({"error": why})


def answer(store: Store, path: str, environ) -> tuple[int, str, bytes | str]:
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    account = query.get("account") or None
    if account is not None and not ACCOUNT.match(account):
        return _fail(400, "'account' must be a 12-digit account id")
    method = environ.get("REQUEST_METHOD")
    action = path.removeprefix("/_bootcamp/state").strip("/")
    wanted = {"": "GET", "save": "GET", "flush": "POST", "reset": "POST", "load": "POST"}.get(action)
    if wanted is None:
        return _fail(404, f"no state action {action!r}: use flush, reset, save or load")
    if method != wanted:
        return _fail(405, f"use {wanted} for /_bootcamp/state/{action}")
    try:
        if action == "":
            return 200, JSON, json.dumps(store.status())
        if action == "flush":
            return 200, JSON, json.dumps({"flushed": store.wait(), **store.status()})
        if action == "reset":
            return 200, JSON, json.dumps(store.reset(account))
        if action == "save":
            return 200, "application/octet-stream", store.export(account)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        return 200, JSON, json.dumps(store.load(body, query.get("name", "the uploaded state"), account))
    except StateRefused as exc:
        return _fail(409, str(exc))
