"""The one rule for secrets in what this project writes: evidence, grades, reports and logs.

`redact` takes any JSON-like value and returns it with every secret-shaped part replaced by
REDACTED: values under keys that name a secret, access key ids, 40-character secret access keys,
session tokens, and `NAME=value` assignments whose name says PASSWORD, SECRET or TOKEN (as a
learner's user data may hold `DB_PASSWORD=...`). Everything else is kept as it is, so a redacted
snapshot still regrades to the same result.
"""

from __future__ import annotations

import functools
import re

REDACTED = "<redacted>"
_B64 = "A-Za-z0-9/+="
# A key that names a secret; "HttpTokens" (an instance's metadata setting) is not one.
SECRET_KEY = re.compile(r"secret|passw(?:or)?d|private.?key|credentials?$|(?:session|security|auth).?token"
                        r"|^token$", re.I)
ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
# 40 characters of base64 standing alone; a line of a wrapped base64 block (the app archive in
# the user data, 76 per line) is not a key, so a line right after or before such a line is kept.
SECRET_ACCESS_KEY = re.compile(rf"(?<![{_B64}])(?<![{_B64}]\n)[{_B64}]{{40}}(?![{_B64}])(?!\n[{_B64}])")
# STS session tokens start with these (base64 of their binary header), then run on for hundreds of characters.
SESSION_TOKEN = re.compile(rf"(?<![{_B64}])(?:FwoG|FQoG|IQoJ|IQoD|IQoE)[{_B64}]{{60,}}|(?:%2F|%2B|%3D|[{_B64}]){{200,}}")
# NAME=value or NAME: value, NAME holding PASSWORD/PASSWD/SECRET/TOKEN (not "TOKENS", a setting's name).
ASSIGNMENT = re.compile(r"(\b[\w.-]*(?:passw(?:or)?d|secret|token)(?!s)[\w.-]*[\"']?\s*[=:]\s*)"
                        r"(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;&]+)", re.I)
TEXT_RULES = (SESSION_TOKEN, ACCESS_KEY_ID, SECRET_ACCESS_KEY)


def redact_text(text: str) -> str:
    """A string with every secret-shaped part replaced."""
    if len(text) >= LONG:
        return _redacted_long(text)
    return _redacted(text)


LONG = 256  # a string this long (user data, a policy document) is redacted once while it recurs


def _redacted(text: str) -> str:
    # Each rule is tried only where it could match: an assignment's name holds one of its words, an
    # access key id starts AKIA or ASIA, a secret key is 40 characters, a session token more.
    folded = text.casefold()  # as the rules' IGNORECASE matches: "\u017f" is an "s", "\u212a" a "k"
    if "passw" in folded or "secret" in folded or "token" in folded:
        text = ASSIGNMENT.sub(lambda m: m.group(1) + (REDACTED if m.group(2) != REDACTED else m.group(2)), text)
    if len(text) >= 40:
        text = SESSION_TOKEN.sub(REDACTED, text)
    if "AKIA" in text or "ASIA" in text:
        text = ACCESS_KEY_ID.sub(REDACTED, text)
    if len(text) >= 40:
        text = SECRET_ACCESS_KEY.sub(REDACTED, text)
    return text


@functools.lru_cache(maxsize=256)
def _redacted_long(text: str) -> str:
    """A class's learners' inventories repeat the lab's long strings (a launch template's user data
    in each of them): each is matched against the rules once."""
    return _redacted(text)


def redact(value):
    """A JSON-like value (dicts, lists, strings) without anything secret-looking in it."""
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_KEY.search(str(k)) and value_is_set(v) else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def value_is_set(value) -> bool:
    return value not in (None, "", [], {})


# A presigned URL's credentials (SigV4 and SigV2 query names) and any header-style token in a log line.
QUERY_CREDENTIAL = re.compile(r"((?:X-Amz-(?:Security-Token|Signature|Credential)|AWSAccessKeyId|Signature"
                              r"|x-amz-security-token)=)[^&\s\"]*", re.I)


@functools.lru_cache(maxsize=4096)
def redact_log_line(line: str) -> str:
    """A server log line without the credentials a request carried in its URL (kept per line: most of
    a sandbox's calls repeat one)."""
    return redact_text(QUERY_CREDENTIAL.sub(lambda m: m.group(1) + REDACTED, line))
