"""Lab 1 graders: group memberships, then effective permissions and the stopped instance."""

import pytest

from graders.plugin import Problems, StepFailed
from labs.lab1.collect import ALLOWED

MEMBERSHIP = {"user-1": "S3-Support", "user-2": "EC2-Support", "user-3": "EC2-Admin"}
# What each user must (allowed) and must not (denied) be able to do once in its group.
EXPECTED = {
    "user-1": {"s3:ListAllMyBuckets": "allowed", "ec2:DescribeInstances": "denied"},
    "user-2": {"ec2:DescribeInstances": "allowed", "ec2:StopInstances": "denied"},
    "user-3": {"ec2:StopInstances": "allowed"},
}


@pytest.fixture
def iam(inventory):
    return inventory["iam"]


def membership_problems(iam: dict, user: str) -> list[tuple[str, dict]]:
    group = MEMBERSHIP[user]
    if group not in iam["groups"]:
        return [("no_group", {"group": group})]
    if user not in iam["users"]:
        return [("no_user", {"user": user})]
    groups = iam["users"][user]["groups"]
    if group not in groups:
        return [("not_member", {"user": user, "group": group, "groups": ", ".join(groups)})]
    extra = [g for g in groups if g in MEMBERSHIP.values() and g != group]
    if extra:
        return [("extra_group", {"user": user, "group": group, "extra": ", ".join(extra)})]
    return []


def expect_membership(iam: dict, user: str) -> None:
    problems = membership_problems(iam, user)
    if problems:
        raise StepFailed(problems)


@pytest.mark.step("1.1")
def test_user1_in_s3_support(iam):
    expect_membership(iam, "user-1")


@pytest.mark.step("1.2")
def test_user2_in_ec2_support(iam):
    expect_membership(iam, "user-2")


@pytest.mark.step("1.3")
def test_user3_in_ec2_admin(iam):
    expect_membership(iam, "user-3")


@pytest.mark.step("1.4")
def test_permissions_confirmed(iam, inventory):
    """Judged on users whose membership is right; a wrong membership is its own step's failure."""
    problems = Problems()
    judged = [user for user in MEMBERSHIP if not membership_problems(iam, user)]
    if not judged:
        problems.add("none_judged")
    effective = inventory["permissions"]["users"]
    for user in judged:
        for action, expected in EXPECTED[user].items():
            actual = effective.get(user, {}).get(action)
            if actual is not None and actual != expected:
                problems.add("allowed" if actual == ALLOWED else "denied", user=user, action=action)
    instances = inventory["instances"]
    if not instances:
        problems.add("no_instance")
    for instance in instances:
        if instance["state"] != "stopped":
            problems.add("not_stopped", instance=instance["id"], state=instance["state"])
    problems.check()
