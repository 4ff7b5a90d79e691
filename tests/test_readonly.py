"""Grading never writes: the guard refuses writes before they are sent, and a grade changes nothing."""

import pytest
from botocore.exceptions import ClientError

from bootcamp.collect import Reader
from bootcamp.errors import ReadOnlyViolation
from bootcamp.readonly import is_read


def test_guard_refuses_a_write_before_it_is_sent(target):
    iam = Reader(target, {}).client("iam")
    with pytest.raises(ReadOnlyViolation, match="grading refused iam:CreateUser"):
        iam.create_user(UserName="intruder")
    assert target.client("iam").list_users()["Users"] == []


def test_guard_lets_reads_and_dry_runs_through(lab1):
    lab1.run("start")
    ec2 = Reader(lab1.target, {}).client("ec2")
    [instance] = ec2.describe_instances(Filters=[{"Name": "tag:bootcamp:lab", "Values": ["1"]}])["Reservations"][0]["Instances"]
    with pytest.raises(ClientError, match="DryRunOperation"):
        ec2.stop_instances(InstanceIds=[instance["InstanceId"]], DryRun=True)
    with pytest.raises(ReadOnlyViolation, match="ec2:StopInstances"):
        ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
    state = lab1.client("ec2").describe_instances(InstanceIds=[instance["InstanceId"]])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"


@pytest.mark.parametrize("operation, params, expected", [
    ("DescribeInstances", {}, True), ("GetAccountAuthorizationDetails", {}, True),
    ("ListBuckets", {}, True), ("HeadBucket", {}, True), ("SimulatePrincipalPolicy", {}, True),
    ("Scan", {}, True), ("StopInstances", {"DryRun": True}, True),
    ("StopInstances", {}, False), ("StopInstances", {"DryRun": False}, False),
    ("CreateUser", {}, False), ("PutBucketPolicy", {}, False), ("DeleteObject", {}, False),
    ("AddUserToGroup", {}, False), ("TerminateInstances", {}, False), ("PutItem", {}, False),
])
def test_what_counts_as_a_read(operation, params, expected):
    assert is_read(operation, params) is expected


def account_picture(lab):
    iam, ec2, s3 = lab.client("iam"), lab.client("ec2"), lab.client("s3")
    users = iam.get_account_authorization_details(Filter=["User", "Group"])
    return {
        "iam": [(u["UserName"], sorted(u["GroupList"])) for u in users["UserDetailList"]],
        "keys": {u: [k["AccessKeyId"] for k in iam.list_access_keys(UserName=u)["AccessKeyMetadata"]]
                 for u in ("user-1", "user-2", "user-3")},
        "instances": [(i["InstanceId"], i["State"]["Name"]) for r in ec2.describe_instances()["Reservations"]
                      for i in r["Instances"]],
        "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
    }


def test_a_grade_leaves_the_account_as_it_was(lab1):
    lab1.run("start")
    before = account_picture(lab1)
    lab1.grade()
    lab1.run("solve")
    solved = account_picture(lab1)
    lab1.grade()
    assert account_picture(lab1) == solved != before
