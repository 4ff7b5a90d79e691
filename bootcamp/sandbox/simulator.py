"""iam:SimulatePrincipalPolicy and iam:SimulateCustomPolicy, which moto 5.2.5 does not serve.

`install()` (called by `build_app()`, safe to call again) adds both actions to moto's IAM
responses, so a call goes through the sandbox's request front like any other: signed, counted,
held to the caller's own IAM policies (an IAM user or a grader role needs
iam:SimulatePrincipalPolicy, as on AWS), then answered in IAM's own XML by moto's serializer.

What is simulated (the evaluation: `bootcamp.sandbox.policy_eval`):
- SimulatePrincipalPolicy: the policies of the user (its inline and attached ones, and those of
  each of its groups), group or role that PolicySourceArn names, plus PolicyInputList;
- SimulateCustomPolicy: the policies of PolicyInputList;
- both: every action of ActionNames on every resource of ResourceArns (default "*"), with
  ContextEntries as the request's context and ResourcePolicy, when given, as the resources'
  policy (its Principal judged against CallerArn, else PolicySourceArn for a user, as for one
  account: the resource's owner is the caller's account);
- the results: EvalActionName, EvalResourceName, EvalDecision, MatchedStatements
  (SourcePolicyId: an inline policy's name, a managed policy's name, "PolicyInputList.N" or
  "ResourcePolicy"; SourcePolicyType; the statement's Start and End positions in its text),
  MissingContextValues, in pages of MaxItems (default 100) with Marker.
Not simulated: permissions boundaries, Organizations SCPs, policy variables (${aws:username}).

Every simulation is counted per account and action; `/_bootcamp/stats` shows the counts under
"iam_simulations", so a test can see that a grade asked the simulator.
"""

from __future__ import annotations

import threading
from collections import Counter

from moto.core.responses import ActionResult
from moto.iam.exceptions import InvalidInput, MalformedPolicyDocument, NoSuchEntity
from moto.iam.responses import IamResponse

from bootcamp.sandbox import policy_eval
from bootcamp.sandbox.policy_eval import MalformedPolicy, Source

DEFAULT_ITEMS, MOST_ITEMS = 100, 1000
COUNTS: Counter = Counter()  # (account, action) -> simulations served
_LOCK = threading.Lock()


def counts() -> list[dict]:
    with _LOCK:
        return [{"account": a, "action": x, "requests": n} for (a, x), n in sorted(COUNTS.items())]


def _document(policy) -> str:
    """A managed policy's default version's text."""
    return next(v.document for v in policy.versions if v.is_default)


def _managed(policy) -> Source:
    kind = "aws-managed" if ":aws:policy/" in policy.arn else "user-managed"
    return Source(policy.name, kind, _document(policy))


def _of(entity, kind: str) -> list[Source]:
    inline = [Source(name, kind, text) for name, text in sorted(entity.policies.items())]
    return inline + [_managed(p) for _, p in sorted(entity.managed_policies.items())]


def principal_sources(backend, arn: str) -> list[Source]:
    """The policies of the user (with its groups'), group or role an ARN names; NoSuchEntity otherwise."""
    kind, _, path = arn.split(":", 5)[-1].partition("/")  # arn:aws:iam::ACCOUNT:user/PATH/NAME
    name = path.rsplit("/", 1)[-1]
    if kind == "user" and name in backend.users and backend.users[name].arn == arn:
        user = backend.users[name]
        found = _of(user, "user")
        for group in backend.get_groups_for_user(name):
            found += _of(group, "group")
        return found
    if kind == "group" and name in backend.groups and backend.groups[name].arn == arn:
        return _of(backend.groups[name], "group")
    if kind == "role":
        role = next((r for r in backend.get_roles() if r.arn == arn), None)
        if role is not None:
            return _of(role, "role")
    raise NoSuchEntity(f"The entity {arn} cannot be found.")


def _inputs(texts: list[str] | None) -> list[Source]:
    return [Source(f"PolicyInputList.{n}", None, text) for n, text in enumerate(texts or [], start=1)]


def _checked(sources: list[Source]) -> list[Source]:
    for source in sources:
        try:
            policy_eval.statements(source.text)
        except MalformedPolicy as exc:
            raise MalformedPolicyDocument(f"{source.id}: {exc}") from None
    return sources


def _statement(source: Source, spanned) -> dict:
    found = {"SourcePolicyId": source.id,
             "StartPosition": {"Line": spanned.start[0], "Column": spanned.start[1]},
             "EndPosition": {"Line": spanned.end[0], "Column": spanned.end[1]}}
    if source.type:
        found["SourcePolicyType"] = source.type
    return found


def simulate(identity: list[Source], actions: list[str], resources: list[str], entries: list[dict],
             resource_policy: str | None, caller: str) -> list[dict]:
    """One EvaluationResult per action and resource."""
    if not actions:
        raise InvalidInput("ActionNames must name at least one action.")
    context = policy_eval.context_of(entries)
    on_resource = _checked([Source("ResourcePolicy", "resource", resource_policy)])[0] if resource_policy else None
    results = []
    for action in actions:
        for resource in resources or ["*"]:
            decided = policy_eval.evaluate(identity, action, resource, context, on_resource, caller)
            results.append({"EvalActionName": action, "EvalResourceName": resource,
                            "EvalDecision": decided.decision,
                            "MatchedStatements": [_statement(s, sp) for s, sp in decided.matched],
                            "MissingContextValues": decided.missing})
    return results


def _page(self, results: list[dict]) -> ActionResult:
    marker = self._get_param("Marker")
    start = int(marker) if marker and str(marker).isdigit() else 0
    size = min(max(int(self._get_param("MaxItems") or DEFAULT_ITEMS), 1), MOST_ITEMS)
    page = results[start:start + size]
    more = start + size < len(results)
    return ActionResult({"EvaluationResults": page, "IsTruncated": more,
                         **({"Marker": str(start + size)} if more else {})})


def _count(self, action: str) -> None:
    with _LOCK:
        COUNTS[(self.current_account, action)] += 1


def simulate_principal_policy(self):
    """SimulatePrincipalPolicy: the named principal's policies (and PolicyInputList) judged."""
    _count(self, "SimulatePrincipalPolicy")
    source_arn = self._get_param("PolicySourceArn") or ""
    identity = _checked(principal_sources(self.backend, source_arn) + _inputs(self._get_param("PolicyInputList")))
    caller = self._get_param("CallerArn") or (source_arn if ":user/" in source_arn else "")
    return _page(self, simulate(identity, self._get_param("ActionNames") or [], self._get_param("ResourceArns"),
                                self._get_param("ContextEntries") or [], self._get_param("ResourcePolicy"), caller))


def simulate_custom_policy(self):
    """SimulateCustomPolicy: only the policies given (PolicyInputList) judged."""
    _count(self, "SimulateCustomPolicy")
    identity = _checked(_inputs(self._get_param("PolicyInputList")))
    return _page(self, simulate(identity, self._get_param("ActionNames") or [], self._get_param("ResourceArns"),
                                self._get_param("ContextEntries") or [], self._get_param("ResourcePolicy"),
                                self._get_param("CallerArn") or ""))


def install() -> None:
    for action in (simulate_principal_policy, simulate_custom_policy):
        setattr(IamResponse, action.__name__, action)
