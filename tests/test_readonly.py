"""Grading never writes: the guard refuses writes before they are sent, and a grade changes nothing."""

import pytest
from botocore.exceptions import ClientError

from bootcamp.collect import Reader
from bootcamp.errors import ReadOnlyViolation
from bootcamp.inventory import describe_refusal
from bootcamp.readonly import is_read
from bootcamp.targets import EmbeddedTarget, make_target


def settings_client(settings, service: str):
    return make_target(settings).client(service)


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


@pytest.mark.parametrize("service, operation, params, expected", [
    ("ec2", "DescribeInstances", {}, True), ("iam", "GetAccountAuthorizationDetails", {}, True),
    ("s3", "ListBuckets", {}, True), ("s3", "HeadBucket", {}, True), ("iam", "SimulatePrincipalPolicy", {}, True),
    ("dynamodb", "Scan", {}, True), ("ec2", "StopInstances", {"DryRun": True}, True),
    ("ec2", "StopInstances", {}, False), ("ec2", "StopInstances", {"DryRun": False}, False),
    ("iam", "CreateUser", {}, False), ("s3", "PutBucketPolicy", {}, False), ("s3", "DeleteObject", {}, False),
    ("iam", "AddUserToGroup", {}, False), ("ec2", "TerminateInstances", {}, False), ("dynamodb", "PutItem", {}, False),
    ("sts", "GetCallerIdentity", {}, True), ("sts", "GetSessionToken", {}, False),
    ("sts", "GetFederationToken", {}, False), ("ec2", "CreateVpc", {"DryRun": True}, False),
    ("ec2", "DeleteVpc", {"DryRun": True}, False), ("ec2", "TerminateInstances", {"DryRun": True}, False),
])
def test_what_counts_as_a_read(service, operation, params, expected):
    assert is_read(service, operation, params) is expected


def test_the_guard_refuses_what_hands_out_credentials(target):
    sts = Reader(target, {}).client("sts")
    with pytest.raises(ReadOnlyViolation, match="sts:GetSessionToken"):
        sts.get_session_token()
    with pytest.raises(ReadOnlyViolation, match="sts:GetFederationToken"):
        sts.get_federation_token(Name="grader")


@pytest.mark.parametrize("call", [
    lambda ec2: ec2.create_vpc(CidrBlock="10.1.0.0/16", DryRun=True),
    lambda ec2: ec2.delete_vpc(VpcId="vpc-12345678", DryRun=True),
    lambda ec2: ec2.create_route(RouteTableId="rtb-12345678", DestinationCidrBlock="0.0.0.0/0",
                                 GatewayId="igw-12345678", DryRun=True),
])
def test_a_dry_run_graders_do_not_need_is_refused_before_it_is_sent(target, call):
    with pytest.raises(ReadOnlyViolation, match="grading refused ec2:"):
        call(Reader(target, {}).client("ec2"))
    assert [v for v in target.client("ec2").describe_vpcs()["Vpcs"] if v["CidrBlock"] == "10.1.0.0/16"] == []


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


def test_a_refusal_names_the_iam_action_even_when_the_message_does_not(settings):
    """EC2 refuses a write (here a dry run, the one graders ask) without naming the permission
    in words, as on AWS; the grade's error still names it as IAM does."""
    iam = settings_client(settings, "iam")
    iam.create_user(UserName="grader")
    iam.attach_user_policy(UserName="grader", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess")
    key = iam.create_access_key(UserName="grader")["AccessKey"]
    as_grader = EmbeddedTarget(settings, credentials=(key["AccessKeyId"], key["SecretAccessKey"]))
    ec2 = Reader(as_grader, {}).client("ec2")
    with pytest.raises(ClientError) as refused:
        ec2.stop_instances(InstanceIds=["i-0123456789abcdef0"], DryRun=True)
    error = refused.value.response["Error"]
    assert error["Code"] == "UnauthorizedOperation" and "ec2:StopInstances" not in error["Message"]
    assert describe_refusal(refused.value) == "access denied: the grading identity needs ec2:StopInstances"
    s3 = Reader(as_grader, {}).client("s3")
    with pytest.raises(ClientError) as refused:
        s3.list_buckets()
    assert describe_refusal(refused.value) == "access denied: the grading identity needs s3:ListAllMyBuckets"
