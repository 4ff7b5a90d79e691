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
for an identity policy, which names none) and the request's condition keys. Whether a statement
applies (Action/NotAction, Resource/NotResource, Principal/NotPrincipal, conditions) is
`policy_eval.applies`, the test iam:SimulatePrincipalPolicy answers with, so the sandbox enforces
what its simulator says (tests/test_sandbox_simulator.py holds them to it on a policy moto's own
check gets wrong).
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
    """Whether a Principal element names this caller (None: an anonymous caller, named only by "*")."""
    if principal is None:
        return value == "*"
    return policy_eval.principal_matches(value, principal.arn, principal.role_arn, principal.service)


def decide(document, action: str, resource: str, principal: Principal | None = None,
           context: dict[str, str] | None = None, judge_principal: bool = True) -> str | None:
    """"Deny" (an explicit Deny applies), "Allow" (an Allow applies and no Deny) or None (neither).

    Whether a statement applies is policy_eval's (`applies`), as the simulator judges it. With
    judge_principal, a statement applies only to the principals it names (a resource-based policy:
    a trust, bucket or topic policy); without, to the policy's holder (an identity policy).
    """
    values = {key: [value] for key, value in (context or {}).items()}
    names_caller = (lambda named: _named(named, principal)) if judge_principal else None
    found = None
    for s in statements(document):
        if policy_eval.applies(s, action, resource, values, names_caller)[0]:
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
