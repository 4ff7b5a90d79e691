"""What a grade read from the account: each resource kind read once, or why it could not be."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import botocore.exceptions as bx

from bootcamp import readonly
from bootcamp.errors import explain
from bootcamp.redact import redact

DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                "UnauthorizedAccess", "Forbidden", "AuthorizationError"}
ACTION_IN_MESSAGE = re.compile(r"perform:? ([a-z0-9-]+:[A-Za-z0-9]+)")


class Unjudgeable(Exception):
    """A step needs a resource kind that could not be read; the step is an ERROR, not a FAIL."""


class Inventory:
    """Resource kinds by name; reading a kind that failed raises Unjudgeable with the reason."""

    def __init__(self, data: dict | None = None, errors: dict | None = None, meta: dict | None = None):
        self.data: dict[str, Any] = dict(data or {})
        self.errors: dict[str, str] = dict(errors or {})
        self.meta: dict[str, Any] = dict(meta or {})

    def __getitem__(self, kind: str) -> Any:
        if kind in self.errors:
            raise Unjudgeable(self.errors[kind])
        if kind not in self.data:
            raise Unjudgeable(f"'{kind}' was not collected (a grader asks for a kind the collector does not read)")
        return self.data[kind]

    def fetch(self, kind: str, read: Callable[[], Any]) -> None:
        """Read one kind; access denied and similar refusals are kept as that kind's error."""
        try:
            self.data[kind] = read()
        except Unjudgeable as exc:
            self.errors[kind] = str(exc)
        except bx.ClientError as exc:
            self.errors[kind] = describe_refusal(exc)

    def to_dict(self) -> dict:
        """The evidence as every snapshot writes it: secret-shaped values redacted (see bootcamp.redact)."""
        return redact({"meta": self.meta, "data": self.data, "errors": self.errors})

    @classmethod
    def from_dict(cls, payload: dict) -> "Inventory":
        return cls(payload.get("data"), payload.get("errors"), payload.get("meta"))


def describe_refusal(exc: bx.ClientError) -> str:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    if code in DENIED_CODES:
        found = ACTION_IN_MESSAGE.search(error.get("Message", ""))
        action = found.group(1) if found else readonly.asked_action(error) or exc.operation_name
        return f"access denied: the grading identity needs {action}"
    explained = explain(exc)
    if explained:
        raise exc  # throttling, expired credentials: the whole grade stops with that line
    return f"{exc.operation_name} failed: {code} {error.get('Message', '')}".strip()
