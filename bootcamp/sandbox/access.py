"""Who may do what: one evaluation of AWS policies, for identity, trust, bucket and topic policies.

moto 5.2.5 with IAM enforced judges only an IAM principal's own policies, and only in the caller's
account: it never reads a bucket or topic policy, lets any caller use another account's bucket or
topic, judges a role's trust policy only for a same-account IAM user (failing with a 500 on a
service principal, and passing a condition whose key the request lacks), and hands an account
root credentials for any role. Here, as on AWS (see `authorize`):

- an account root may do anything in its own account; an IAM user or role session what its
  policies allow (moto's check, with IAM's names for S3 actions and the DynamoDB table or SNS
  topic as the resource);
- AssumeRole, by any caller, needs an Allow of the role's trust policy naming the caller (its
  account, its ARN, or "*") with every condition met (sts:ExternalId, ...), and no Deny; an IAM
  principal's own policies must allow sts:AssumeRole on the role too, unless the trust policy
  names it by ARN in its own account. A role trusted only by a service (ec2.amazonaws.com) is
  assumed by no user and no root; a role that does not exist by nobody;
- a request on another account's S3 bucket (or its objects) or SNS topic needs an Allow of the
  bucket or topic policy for the caller and no Deny, on top of the caller's own policies.

`decide` is the one evaluation: a policy document, an action, a resource, the principal (None
for an identity policy, which names none) and the request's condition keys. Its wildcards and
condition operators are `policy_eval`'s, the ones iam:SimulatePrincipalPolicy answers with, so
the sandbox enforces what its simulator says.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bootcamp.sandbox import policy_eval

ROOT_KEY = re.compile(r"^\d{12}$")
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/")
QUERY_CREDENTIAL = re.compile(r"X-Amz-Credential=([^&%]+)(?:%2F|/)\d{8}(?:%2F|/)([^&%]+)(?:%2F|/)([^&%]+)")
ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:.*/)?([^/]+)$")
SNS_ARN = re.compile(r"^arn:aws:sns:([^:]+):(\d{12}):")
SNS_ARN_PARAMS = ("TopicArn", "TargetArn", "ResourceArn")
JSON_SERVICES = {"dynamodb", "logs", "ssm", "kms", "events", "secretsmanager", "ecs", "sqs"}  # awsJson protocols
# IAM's names for the S3 actions moto's S3 names otherwise when it checks IAM.
MOTO_S3_ACTIONS = {"HeadBucket": "ListBucket", "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
                   "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
                   "DeletePublicAccessBlock": "PutBucketPublicAccessBlock"}


@dataclass(frozen=True)
class Principal:
    """Who signed a request: an account's root, an IAM user, a role's session, or a service."""

    account: str
    arn: str  # arn:aws:iam::A:root, arn:aws:iam::A:user/N, arn:aws:sts::A:assumed-role/R/S
    role_arn: str = ""  # a session's role, which a policy may name for all its sessions
    service: str = ""  # e.g. ec2.amazonaws.com, as EC2 assumes an instance profile's role

    @property
    def kind(self) -> str:
        if self.service:
            return "Service"
        if self.role_arn:
            return "AssumedRole"
        return "Account" if self.arn.endswith(":root") else "User"


def root(account: str) -> Principal:
    return Principal(account, f"arn:aws:iam::{account}:root")


# --- the evaluation ---------------------------------------------------------------------------

def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def like(pattern: str, value: str, case: bool = True) -> bool:
    """IAM's wildcard match (policy_eval's, the one the simulator uses too)."""
    return policy_eval.like(pattern, value, ignore_case=not case)


def statements(document) -> list[dict]:
    """A policy's statements, from its JSON or its parsed form ([] when it is neither)."""
    try:
        parsed = json.loads(document) if isinstance(document, (str, bytes)) else document
        found = listed(parsed.get("Statement", []))
    except (ValueError, TypeError, AttributeError):
        return []
    return [s for s in found if isinstance(s, dict)]


def _named(value, principal: Principal | None) -> bool:
    """Whether a Principal element names this caller (None: an anonymous caller)."""
    if value == "*":
        return True
    if not isinstance(value, dict) or principal is None:
        return False
    if principal.service:
        return principal.service in listed(value.get("Service", []))
    names = listed(value.get("AWS", []))
    mine = {"*", principal.account, f"arn:aws:iam::{principal.account}:root", principal.arn}
    return bool(mine.intersection(names)) or (bool(principal.role_arn) and principal.role_arn in names)


def _applies(s: dict, action: str, resource: str, principal, context: dict[str, str], judge_principal: bool) -> bool:
    if "NotAction" in s:
        if any(like(a, action, case=False) for a in listed(s["NotAction"])):
            return False
    elif not any(like(a, action, case=False) for a in listed(s.get("Action", []))):
        return False
    if "Resource" in s and not any(like(r, resource) for r in listed(s["Resource"])):
        return False
    if "NotResource" in s and any(like(r, resource) for r in listed(s["NotResource"])):
        return False
    if judge_principal:
        if "NotPrincipal" in s:
            if _named(s["NotPrincipal"], principal):
                return False
        elif not _named(s.get("Principal"), principal):
            return False
    conditions = s.get("Condition", {})
    if not isinstance(conditions, dict):
        return False
    met, _ = policy_eval.conditions_met(conditions, {key: [value] for key, value in context.items()})
    return met  # the same conditions as iam:SimulatePrincipalPolicy judges


def decide(document, action: str, resource: str, principal: Principal | None = None,
           context: dict[str, str] | None = None, judge_principal: bool = True) -> str | None:
    """"Deny" (an explicit Deny applies), "Allow" (an Allow applies and no Deny) or None (neither).

    With judge_principal, a statement applies only to the principals it names (a resource-based
    policy: a trust, bucket or topic policy); without, to the policy's holder (an identity policy).
    """
    context = {k.lower(): v for k, v in (context or {}).items()}
    found = None
    for s in statements(document):
        if _applies(s, action, resource, principal, context, judge_principal):
            if s.get("Effect") == "Deny":
                return "Deny"
            if s.get("Effect") == "Allow":
                found = "Allow"
    return found


def request_context(principal: Principal, **more: str | None) -> dict[str, str]:
    """The condition keys a request carries here: who the caller is, and what the call gives."""
    keys = {"aws:PrincipalAccount": principal.account, "aws:PrincipalArn": principal.role_arn or principal.arn,
            "aws:PrincipalType": principal.kind, "aws:SecureTransport": "false"}
    return {**keys, **{k: v for k, v in more.items() if v is not None}}


def names_directly(document, principal: Principal) -> bool:
    """Whether an Allow of this resource policy names the caller by its own ARN (not its account)."""
    for s in statements(document):
        named = s.get("Principal")
        if s.get("Effect") == "Allow" and isinstance(named, dict):
            names = listed(named.get("AWS", []))
            if principal.arn in names or (principal.role_arn and principal.role_arn in names):
                return True
    return False


def identity_allows(documents: list, action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether an IAM principal's own policies allow it: some Allow, and no Deny."""
    verdicts = [decide(d, action, resource, context=context, judge_principal=False) for d in documents]
    return "Deny" not in verdicts and "Allow" in verdicts


def may_assume(principal: Principal, trust, role_arn: str, external_id: str | None,
               identity: list | None) -> bool:
    """Whether AWS lets this caller assume a role with this trust policy (identity: the caller's own
    policy documents, None for an account root, which needs none)."""
    context = request_context(principal, **{"sts:ExternalId": external_id})
    if decide(trust, "sts:AssumeRole", role_arn, principal, context) != "Allow":
        return False
    if identity is None:
        return True
    found = ROLE_ARN.match(role_arn)
    same_account = found is not None and found.group(1) == principal.account
    if same_account and names_directly(trust, principal):
        return "Deny" not in [decide(d, "sts:AssumeRole", role_arn, context=context, judge_principal=False)
                              for d in identity]
    return identity_allows(identity, "sts:AssumeRole", role_arn, context)


def resource_policy_allows(principal: Principal, document, action: str, resource: str) -> bool:
    """Whether another account's bucket or topic policy lets this caller make this call."""
    return decide(document, action, resource, principal, request_context(principal)) == "Allow"
