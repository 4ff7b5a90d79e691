"""Lab 1 collector: the IAM users and groups, the lab's instance, and each user's effective permissions."""

from __future__ import annotations

import json
from urllib.parse import unquote

import botocore.exceptions as bx

from bootcamp.collect import Reader
from bootcamp.inventory import Inventory, Unjudgeable
from bootcamp.provision import GONE, TAG_LAB

USERS = ("user-1", "user-2", "user-3")
ACTIONS = ("s3:ListAllMyBuckets", "ec2:DescribeInstances", "ec2:StopInstances")
ALLOWED, DENIED = "allowed", "denied"


def collect(reader: Reader) -> Inventory:
    inv = Inventory()
    inv.fetch("iam", lambda: authorization(reader.client("iam")))
    inv.fetch("instances", lambda: lab_instances(reader.client("ec2")))
    inv.fetch("permissions", lambda: permissions(reader, inv))
    return inv


def authorization(iam) -> dict:
    """Users with their groups and policies, groups with theirs: one paginated read."""
    users, groups = {}, {}
    for page in iam.get_paginator("get_account_authorization_details").paginate(Filter=["User", "Group"]):
        for u in page.get("UserDetailList", []):
            users[u["UserName"]] = {
                "arn": u["Arn"], "groups": sorted(u.get("GroupList", [])),
                "inline": {p["PolicyName"]: _doc(p["PolicyDocument"]) for p in u.get("UserPolicyList", [])},
                "attached": sorted(p["PolicyArn"] for p in u.get("AttachedManagedPolicies", [])),
            }
        for g in page.get("GroupDetailList", []):
            groups[g["GroupName"]] = {
                "inline": {p["PolicyName"]: _doc(p["PolicyDocument"]) for p in g.get("GroupPolicyList", [])},
                "attached": sorted(p["PolicyArn"] for p in g.get("AttachedManagedPolicies", [])),
            }
    return {"users": users, "groups": groups}


def _doc(document) -> dict:
    return json.loads(unquote(document)) if isinstance(document, str) else document


def lab_instances(ec2) -> list[dict]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": f"tag:{TAG_LAB}", "Values": ["1"]}])
    return [{"id": i["InstanceId"], "state": i["State"]["Name"], "type": i["InstanceType"]}
            for page in pages for r in page["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] not in GONE]


def permissions(reader: Reader, inv: Inventory) -> dict:
    """For each existing lab user, whether each lab action is allowed, judged by the target's honest method."""
    users = {u: d for u, d in inv["iam"]["users"].items() if u in USERS}
    instance = (inv["instances"] or [None])[0]
    method = {"embedded": "probe", "aws": "simulate"}.get(reader.target.name, "policy")
    keys = reader.state.get("access_keys", {})
    if method == "probe" and not all(u in keys for u in users):
        method = "policy"  # graded by someone without the learner's state (an instructor): no keys to probe with
    if method == "probe":
        found = {u: _probe(reader, u, instance) for u in users}
    elif method == "simulate":
        found = {u: _simulate(reader.client("iam"), d["arn"], instance) for u, d in users.items()}
    else:
        found = {u: _evaluate(reader.client("iam"), inv["iam"], u) for u in users}
    return {"method": method, "users": found}


def _probe(reader: Reader, user: str, instance: dict | None) -> dict:
    """Call as the user (IAM is enforced for users in the sandbox); stops are dry runs."""
    key = reader.state.get("access_keys", {}).get(user)
    if not key:
        raise Unjudgeable(f"no access key for {user} in this sandbox: run `invoke lab.start 1` again")
    s3 = reader.client_as("s3", key)
    ec2 = reader.client_as("ec2", key)
    calls = {
        "s3:ListAllMyBuckets": lambda: s3.list_buckets(),
        "ec2:DescribeInstances": lambda: ec2.describe_instances(MaxResults=5),
    }
    if instance:
        calls["ec2:StopInstances"] = lambda: ec2.stop_instances(InstanceIds=[instance["id"]], DryRun=True)
    results = {}
    for action, call in calls.items():
        try:
            call()
            results[action] = ALLOWED
        except bx.ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "DryRunOperation":
                results[action] = ALLOWED
            elif code in ("AccessDenied", "UnauthorizedOperation", "AccessDeniedException"):
                results[action] = DENIED
            else:
                raise
    return results


def _simulate(iam, user_arn: str, instance: dict | None) -> dict:
    context = [{"ContextKeyName": "ec2:InstanceType", "ContextKeyType": "string",
                "ContextKeyValues": [instance["type"] if instance else "t3.micro"]}]
    answer = iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=list(ACTIONS),
                                           ResourceArns=["*"], ContextEntries=context)
    return {r["EvalActionName"]: ALLOWED if r["EvalDecision"] == "allowed" else DENIED
            for r in answer["EvaluationResults"]}


def _evaluate(iam, authz: dict, user: str) -> dict:
    """Where IAM is not enforced (LocalStack), or no user keys are at hand, evaluate the policy documents as AWS does."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    user_data = authz["users"][user]
    documents = list(user_data["inline"].values())
    arns = list(user_data["attached"])
    for group in user_data["groups"]:
        g = authz["groups"].get(group, {})
        documents += list(g.get("inline", {}).values())
        arns += g.get("attached", [])
    for arn in sorted(set(arns)):
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        documents.append(_doc(iam.get_policy_version(PolicyArn=arn, VersionId=version)
                              ["PolicyVersion"]["Document"]))
    results = {}
    for action in ACTIONS:
        verdicts = {IAMPolicy(json.dumps(d)).is_action_permitted(action) for d in documents}
        allowed = PermissionResult.PERMITTED in verdicts and PermissionResult.DENIED not in verdicts
        results[action] = ALLOWED if allowed else DENIED
    return results
