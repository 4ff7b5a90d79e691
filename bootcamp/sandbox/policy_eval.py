"""IAM policy evaluation as the policy simulator reports it: decisions, matched statements, missing keys.

Pure functions over policy texts (no moto): `bootcamp.sandbox.simulator` feeds them the policies
of a user, group or role and answers iam:SimulatePrincipalPolicy and SimulateCustomPolicy.

The rules, as AWS documents its evaluation logic for one account:
- a statement applies when its Action (or NotAction) matches the action, case-insensitively,
  with `*` and `?` wildcards; its Resource (or NotResource) matches the resource, case-sensitively;
  a resource policy's statement must also name the caller (see `principal_matches`); and every
  one of its conditions is met;
- an applying Deny anywhere is an explicitDeny; else an applying Allow in an identity policy or
  the resource policy is allowed; else implicitDeny;
- a condition on a key the request's context does not hold is not met (its key is reported as
  missing), except for `...IfExists` operators and `Null`, which are about that absence.

The sandbox's enforcement (`bootcamp.sandbox.access`) judges every statement with `applies` too,
over the policies moto collects (a user's inline and attached ones and its groups'; a role's),
instead of moto's own check (moto/iam/access_control.py), which compares only StringEquals, meets a
condition on a key it has no value for, and counts an Allow whose StringEquals fails as a Deny.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicitDeny", "implicitDeny"


@dataclass(frozen=True)
class Source:
    """One policy the simulation reads: its id and type as AWS reports them, and its text."""

    id: str
    type: str | None  # user, group, role, aws-managed, user-managed, resource; None for PolicyInputList
    text: str


@dataclass(frozen=True)
class Spanned:
    """A statement with where it stands in its policy's text (1-based line and column)."""

    statement: dict
    start: tuple[int, int]
    end: tuple[int, int]


@dataclass
class Decision:
    decision: str
    matched: list[tuple[Source, Spanned]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


class MalformedPolicy(ValueError):
    """A policy text that is not a JSON object with statements (the message says which)."""


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


@lru_cache(maxsize=2048)
def statements(text: str) -> tuple[Spanned, ...]:
    """The statements of a policy text with their spans; MalformedPolicy when it has none to read."""
    decoder = json.JSONDecoder()
    at = _skip(text, 0)
    if not text[at:at + 1] == "{":
        raise MalformedPolicy("the policy is not a JSON object")
    at = _skip(text, at + 1)
    found: list[Spanned] = []
    try:
        while at < len(text) and text[at] != "}":
            key, at = decoder.raw_decode(text, at)
            at = _skip(text, at)
            if text[at:at + 1] != ":":
                raise MalformedPolicy("the policy is not a JSON object")
            at = _skip(text, at + 1)
            if key == "Statement":
                found, at = _spanned(text, at, decoder)
            else:
                _, at = decoder.raw_decode(text, at)
            at = _skip(text, at)
            if text[at:at + 1] == ",":
                at = _skip(text, at + 1)
    except ValueError as exc:
        if isinstance(exc, MalformedPolicy):
            raise
        raise MalformedPolicy(f"the policy is not valid JSON ({exc})") from None
    if not found or not all(isinstance(s.statement, dict) for s in found):
        raise MalformedPolicy("the policy has no statements")
    return tuple(found)


def _spanned(text: str, at: int, decoder: json.JSONDecoder) -> tuple[list[Spanned], int]:
    if text[at:at + 1] != "[":  # one statement, not a list of them
        value, end = decoder.raw_decode(text, at)
        return [Spanned(value, _position(text, at), _position(text, end - 1))], end
    at = _skip(text, at + 1)
    found = []
    while text[at:at + 1] != "]":
        value, end = decoder.raw_decode(text, at)
        found.append(Spanned(value, _position(text, at), _position(text, end - 1)))
        at = _skip(text, end)
        if text[at:at + 1] == ",":
            at = _skip(text, at + 1)
        elif text[at:at + 1] != "]":
            raise MalformedPolicy("the policy's Statement list is not valid JSON")
    return found, at + 1


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    body = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` any one."""
    return _wildcard(str(pattern), ignore_case).fullmatch(value) is not None


def _matches(statement: dict, name: str, value: str, ignore_case: bool) -> bool:
    """Whether Name (or NotName) of the statement covers the value; a statement naming neither covers all."""
    if name in statement:
        return any(like(p, value, ignore_case) for p in _listed(statement[name]))
    if f"Not{name}" in statement:
        return not any(like(p, value, ignore_case) for p in _listed(statement[f"Not{name}"]))
    return True


def principal_matches(named, caller: str, role_arn: str = "", service: str = "") -> bool:
    """Whether a resource policy's Principal names the caller: "*", its account (id or :root ARN), its ARN,
    or a session's role ARN (role_arn); a service (e.g. ec2.amazonaws.com) only by its name."""
    if named == "*":
        return True
    if not isinstance(named, dict):
        return False
    if service:
        return service in _listed(named.get("Service", []))
    values = _listed(named.get("AWS", []))
    account = caller.split(":")[4] if caller.count(":") >= 5 else ""
    return any(v in ("*", account, f"arn:aws:iam::{account}:root", caller) or (role_arn and v == role_arn)
               for v in values)


def applies(statement: dict, action: str, resource: str, context: dict[str, list[str]],
            names_caller=None) -> tuple[bool, list[str]]:
    """(whether a statement applies to this request, the context keys its conditions lack): its Action or
    NotAction, Resource or NotResource, and conditions; with `names_caller` (a resource policy's test of a
    Principal element), its Principal or NotPrincipal too."""
    if "Action" not in statement and "NotAction" not in statement:
        return False, []  # IAM refuses such a statement; it grants or denies nothing
    if not (_matches(statement, "Action", action, True) and _matches(statement, "Resource", resource, False)):
        return False, []
    if names_caller is not None:
        if "NotPrincipal" in statement:
            if names_caller(statement["NotPrincipal"]):
                return False, []
        elif not names_caller(statement.get("Principal")):
            return False, []
    return conditions_met(statement.get("Condition", {}), context)


# --- conditions ---------------------------------------------------------------------------

def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _in_network(cidr, address) -> bool:
    try:
        return ipaddress.ip_address(str(address)) in ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return False


def _numeric(test):
    return lambda want, got: (w := _number(want)) is not None and (g := _number(got)) is not None and test(g, w)


# Each operator's test of one context value (got) against one policy value (want).
TESTS = {
    "StringEquals": lambda want, got: got == str(want),
    "StringEqualsIgnoreCase": lambda want, got: got.lower() == str(want).lower(),
    "StringLike": lambda want, got: like(want, got),
    "ArnEquals": lambda want, got: got == str(want),
    "ArnLike": lambda want, got: like(want, got),
    "Bool": lambda want, got: got.lower() == str(want).lower(),
    "NumericEquals": _numeric(lambda g, w: g == w),
    "NumericLessThan": _numeric(lambda g, w: g < w),
    "NumericLessThanEquals": _numeric(lambda g, w: g <= w),
    "NumericGreaterThan": _numeric(lambda g, w: g > w),
    "NumericGreaterThanEquals": _numeric(lambda g, w: g >= w),
    "IpAddress": _in_network,
}
NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
           "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike",
           "NumericNotEquals": "NumericEquals", "NotIpAddress": "IpAddress"}


def _one_condition(operator: str, wanted: list, got: list[str] | None) -> bool:
    """Whether one operator/key pair is met by the context's values (got None: the key is absent,
    which meets only Null, ...IfExists and a negated operator, as IAM evaluates it)."""
    quantifier, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    if operator == "Null":
        return any((got is None) == (str(w).lower() == "true") for w in wanted)
    negated = operator in NEGATED
    if got is None:
        return if_exists or negated
    test = TESTS.get(NEGATED.get(operator, operator))
    if test is None:
        return False  # an operator this evaluator does not know is never met
    hit = [any(test(w, g) for w in wanted) for g in got]
    if quantifier == "ForAllValues":
        return all(not h for h in hit) if negated else all(hit)
    if negated:  # ForAnyValue or single-valued
        return not all(hit) if quantifier == "ForAnyValue" else not any(hit)
    return any(hit)


def conditions_met(conditions: dict, context: dict[str, list[str]]) -> tuple[bool, list[str]]:
    """(every condition met, the keys the context lacks). Context keys are case-insensitive, as in IAM."""
    if not isinstance(conditions, dict):
        return False, []
    lowered = {k.lower(): v for k, v in context.items()}
    met, missing = True, []
    for operator, pairs in conditions.items():
        for key, wanted in (pairs.items() if isinstance(pairs, dict) else ()):
            got = lowered.get(key.lower())
            if got is None and operator.rpartition(":")[2] != "Null":
                missing.append(key)
            if not _one_condition(operator, _listed(wanted), got):
                met = False
    return met, missing


# --- a decision -----------------------------------------------------------------------------

def evaluate(identity: list[Source], action: str, resource: str, context: dict[str, list[str]],
             resource_policy: Source | None = None, caller: str = "") -> Decision:
    """The decision for one action on one resource, with the statements that decided it."""
    allows, denies, missing = [], [], []
    sources = [(s, None) for s in identity]
    if resource_policy:
        sources.append((resource_policy, lambda named: principal_matches(named, caller)))
    for source, names_caller in sources:
        for spanned in statements(source.text):
            s = spanned.statement
            met, lacking = applies(s, action, resource, context, names_caller)
            missing += [k for k in lacking if k not in missing]
            if met:
                (denies if s.get("Effect") == "Deny" else allows if s.get("Effect") == "Allow" else []).append(
                    (source, spanned))
    if denies:
        return Decision(EXPLICIT_DENY, denies, missing)
    if allows:
        return Decision(ALLOWED, allows, missing)
    return Decision(IMPLICIT_DENY, [], missing)


def context_of(entries: list[dict]) -> dict[str, list[str]]:
    """ContextEntries as the simulator takes them, as key -> values (strings)."""
    found: dict[str, list[str]] = {}
    for entry in entries or []:
        name = entry.get("ContextKeyName")
        if name:
            found.setdefault(name, []).extend(str(v) for v in entry.get("ContextKeyValues") or [])
    return found
