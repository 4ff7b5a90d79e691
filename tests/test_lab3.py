"""Lab 3 on the sandbox: start, the graders (every step passes solved; a realistic mistake fails
exactly its step; valid variants pass), the app on the lab's instance asked for its own settings
through the sandbox's edge, as on AWS, clean."""

from __future__ import annotations

import base64
import json
import sys
import uuid

import boto3
import pytest
from conftest import ROOT, LabDriver, run_invoke, sandbox_env

from bootcamp import approle, grading, photos, userdata, webapp
from bootcamp.errors import BootcampError
from bootcamp.labmodel import get_lab
from bootcamp.results import FAIL, PASS
from bootcamp.sandbox import control
from labs.lab3 import provision

LAB3 = [s.id for s in get_lab("3").steps]
TABLE = "Employees"


def bucket_of(lab: LabDriver) -> str:
    return lab.context().state.load()["bucket"]


def role_arn(lab: LabDriver) -> str:
    return f"arn:aws:iam::{lab.settings.sandbox_account}:role/EmployeeDirectoryAppRole"


def app_url(lab: LabDriver) -> str:
    """The app on the lab's instance, at its public address (what `invoke lab.open 3` opens)."""
    return webapp.lab_app_url(lab.target, "3", lab.settings.app_port).rstrip("/")


def web_instance(lab: LabDriver) -> dict:
    [instance] = [i for r in lab.client("ec2").describe_instances(Filters=[
        {"Name": "tag:Name", "Values": ["Web Application"]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
        for i in r["Instances"]]
    return instance


def set_policy(lab: LabDriver, *statements: dict, bucket: str | None = None) -> None:
    lab.client("s3").put_bucket_policy(Bucket=bucket or bucket_of(lab), Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))


def grant(lab: LabDriver, principal, resources: list[str], action="s3:*", sid="App") -> dict:
    return {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": action, "Resource": resources}


def both(bucket: str) -> list[str]:
    return [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]


def app_items(lab: LabDriver) -> list[dict]:
    items = lab.client("dynamodb").scan(TableName=TABLE)["Items"]
    return [i for i in items if i["id"]["S"] != provision.DIRECT_ITEM["id"]["S"]]


@pytest.fixture
def solved(lab3):
    """Lab 3 done as the course asks: the app on the lab's instance uses the bucket (nothing runs here)."""
    lab3.run("start")
    lab3.run("solve")
    return lab3


# --- start -----------------------------------------------------------------------------------

def test_start_builds_lab2s_end_state_with_the_app_role_and_the_photos(lab3):
    lab3.run("start")
    ec2, iam = lab3.client("ec2"), lab3.client("iam")
    [instance] = [i for r in ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["Web Application"]}])
                  ["Reservations"] for i in r["Instances"]]
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/EmployeeDirectoryAppRole")
    assert instance["InstanceType"] == "t3.micro" and instance.get("PublicIpAddress")
    subnet = ec2.describe_subnets(SubnetIds=[instance["SubnetId"]])["Subnets"][0]
    assert subnet["CidrBlock"] == "10.0.0.0/24"
    vpc = ec2.describe_vpcs(VpcIds=[instance["VpcId"]])["Vpcs"][0]
    assert {"Key": "Name", "Value": "Lab VPC"} in vpc["Tags"]
    raw = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")["UserData"]["Value"]
    assert userdata.inspect(base64.b64decode(raw).decode()).installs_app
    role = iam.get_role(RoleName="EmployeeDirectoryAppRole")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    policy = iam.get_role_policy(RoleName="EmployeeDirectoryAppRole", PolicyName="EmployeeDirectoryAccess")
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in
               ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"dynamodb:ListTables", "dynamodb:Scan", "dynamodb:PutItem", "s3:PutObject", "s3:GetObject"} <= actions
    folder = provision.photos_dir(lab3.context())
    assert sorted(p.name for p in folder.iterdir()) == sorted(photos.SAMPLES)
    assert all((folder / name).read_bytes() == data for name, data in photos.sample_photos().items())
    assert "the app runs on instance Web Application: `invoke lab.open 3` opens it" in "\n".join(lab3.log)


def test_start_is_idempotent_and_refuses_a_role_it_did_not_make(lab3, settings):
    lab3.run("start")
    before = len(lab3.log)
    lab3.run("start")
    assert not [line for line in lab3.log[before:] if line.startswith("  ") and "lab.open" not in line]
    other = LabDriver("3", settings.but(sandbox_account=f"{int(settings.sandbox_account) + 500000:012d}"))
    other.client("iam").create_role(RoleName="EmployeeDirectoryAppRole", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": []}))
    with pytest.raises(BootcampError, match="EmployeeDirectoryAppRole already exists .* not made by lab 3"):
        other.run("start")


def test_solve_takes_the_next_digits_when_another_account_has_the_bucket_name(lab3, settings):
    first, second = provision.bucket_names(lab3.context())[:2]
    stranger = LabDriver("3", settings.but(sandbox_account=f"{int(settings.sandbox_account) + 700000:012d}"))
    stranger.client("s3").create_bucket(Bucket=first, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    lab3.run("start")
    lab3.run("solve")
    assert bucket_of(lab3) == second
    assert lab3.failing() == set()


# --- fresh and solved ------------------------------------------------------------------------

def test_fresh_every_step_fails_with_a_hint(lab3):
    lab3.run("start")
    steps = lab3.grade().steps
    assert [s.id for s in steps] == LAB3
    assert all(s.status == FAIL and s.hint for s in steps), [(s.id, s.status, s.message) for s in steps]
    by_id = {s.id: s for s in steps}
    assert "No bucket is named employee-photo-bucket-<initials>-<4 digits>" in by_id["3.1"].message
    assert "no photo bucket to check yet" in by_id["3.3"].message
    assert "no table Employees in us-west-2" in by_id["3.5"].message


def test_solved_every_step_passes_in_both_languages(solved):
    result = solved.grade()
    assert [(s.id, s.status) for s in result.steps] == [(i, PASS) for i in LAB3], \
        [(s.id, s.message) for s in result.steps if s.status != PASS]
    assert result.score == result.max_score == 11
    korean = solved.grade("ko")
    assert korean.steps[4].title == "파티션 키 id(문자열)를 가진 DynamoDB 테이블 Employees"


def test_the_app_is_asked_not_trusted(solved):
    """3.3 follows what the app on the instance reports on its own settings page, the one a learner
    opens with `invoke lab.open 3`: another bucket, or none, fails 3.3 with the page to fix it on."""
    url = app_url(solved)
    assert url == f"http://{web_instance(solved)['PublicDnsName']}:{solved.settings.sandbox_port}"
    answer = webapp.ask(url)
    assert answer["settings"]["bucket"]["name"] == bucket_of(solved)
    assert answer["settings"]["instance"]["instance_id"] == web_instance(solved)["InstanceId"]
    assert {e["id"] for e in answer["employees"]} >= {provision.DIRECT_ITEM["id"]["S"]}
    webapp.submit(url, "/settings", {"bucket": "employee-photo-bucket-zz-0000"})
    step = solved.step("3.3")
    assert step.status == FAIL and "uses bucket employee-photo-bucket-zz-0000" in step.message
    assert f"{url}/settings" in step.hint and "invoke lab.open 3" in step.hint
    webapp.submit(url, "/settings", {"bucket": ""})  # the setting cleared: the app is pointed at no bucket
    assert solved.failing() == {"3.3"}
    assert solved.step("3.3").message == f"The app at {url}/settings has no bucket set yet."


def test_the_instances_app_has_its_roles_permissions(solved):
    """As on EC2, the app uses EmployeeDirectoryAppRole: a bucket outside its grants is not reachable."""
    s3 = solved.client("s3")
    outside = f"staff-photos-{solved.settings.sandbox_account}"
    s3.create_bucket(Bucket=outside, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    webapp.submit(app_url(solved), "/settings", {"bucket": outside})
    said = webapp.ask(app_url(solved))["settings"]["bucket"]
    assert said["name"] == outside and said["reachable"] is False and "403" in said["error"]
    step = solved.step("3.3")
    assert step.status == FAIL and f"uses bucket {outside}, not {bucket_of(solved)}" in step.message


def test_app_run_says_it_runs_as_the_role(lab3):
    from app_support import clean_env, running
    lab3.run("start")
    port = control.free_port()
    server = running([sys.executable, "-m", "invoke", "app.run", "--port", str(port)],
                     {**clean_env(), **sandbox_env(lab3.settings), "COLUMNS": "300"}, ROOT, port)
    with server as client:
        assert client.get("/api/settings").json()["table"]["error"] == "table Employees not found in us-west-2"
    assert "as role EmployeeDirectoryAppRole" in server.out.splitlines()[0]


# --- mistakes: each fails exactly its step ---------------------------------------------------

def bpa_off(lab):
    lab.client("s3").put_public_access_block(Bucket=bucket_of(lab), PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})


def no_bpa(lab):
    lab.client("s3").delete_public_access_block(Bucket=bucket_of(lab))


def bucket_in_another_region(lab):
    """The learner made the bucket in us-east-1 and did everything else right with it."""
    s3, old = lab.client("s3"), bucket_of(lab)
    new = f"employee-photo-bucket-ue-{lab.settings.sandbox_account[-4:]}"
    boto3.client("s3", region_name="us-east-1", endpoint_url=control.endpoint(lab.settings),
                 aws_access_key_id=lab.settings.sandbox_account,
                 aws_secret_access_key=control.SECRET).create_bucket(Bucket=new)  # the console's region: us-east-1
    for obj in s3.list_objects_v2(Bucket=old)["Contents"]:
        s3.copy_object(Bucket=new, Key=obj["Key"], CopySource={"Bucket": old, "Key": obj["Key"]})
    set_policy(lab, grant(lab, {"AWS": role_arn(lab)}, both(new)), bucket=new)
    for obj in s3.list_objects_v2(Bucket=old)["Contents"]:
        s3.delete_object(Bucket=old, Key=obj["Key"])
    s3.delete_bucket_policy(Bucket=old)
    s3.delete_bucket(Bucket=old)
    webapp.submit(app_url(lab), "/settings", {"bucket": new})


def public_policy(lab):
    """Principal "*" (Block public policy had to be turned off for it, then back on)."""
    s3, bucket = lab.client("s3"), bucket_of(lab)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": True})
    set_policy(lab, grant(lab, "*", both(bucket)))
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})


def policy_on_the_bucket_only(lab):
    set_policy(lab, grant(lab, {"AWS": role_arn(lab)}, [f"arn:aws:s3:::{bucket_of(lab)}"]))


def policy_for_the_account(lab):
    set_policy(lab, grant(lab, {"AWS": f"arn:aws:iam::{lab.settings.sandbox_account}:root"}, both(bucket_of(lab))))


def policy_for_the_role_and_a_user(lab):
    user = f"arn:aws:iam::{lab.settings.sandbox_account}:user/intern"
    set_policy(lab, grant(lab, {"AWS": [role_arn(lab), user]}, both(bucket_of(lab))))


def policy_reads_only(lab):
    set_policy(lab, grant(lab, {"AWS": role_arn(lab)}, both(bucket_of(lab)), action=["s3:GetObject", "s3:ListBucket"]))


def no_policy(lab):
    lab.client("s3").delete_bucket_policy(Bucket=bucket_of(lab))


def app_on_another_bucket(lab):
    webapp.submit(app_url(lab), "/settings", {"bucket": "employee-photo-bucket-zz-9999"})


def nine_photos(lab):
    lab.client("s3").delete_object(Bucket=bucket_of(lab), Key="ingrid-larsen.png")


def sort_key(lab):
    """Table Employees made with a sort key (the console's optional field): the app still adds and lists."""
    ddb = lab.client("dynamodb")
    items = ddb.scan(TableName=TABLE)["Items"]
    ddb.delete_table(TableName=TABLE)
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                           {"AttributeName": "name", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "name", "KeyType": "RANGE"}])
    for item in items:
        ddb.put_item(TableName=TABLE, Item=item)


def photo_not_in_the_bucket(lab):
    item = app_items(lab)[0]
    lab.client("dynamodb").put_item(TableName=TABLE, Item={**item, "photo": {"S": "employee_pic/lost.png"}})


def employee_without_email(lab):
    item = app_items(lab)[0]
    del item["email"]
    lab.client("dynamodb").put_item(TableName=TABLE, Item=item)


def direct_item_with_an_app_style_id(lab):
    ddb = lab.client("dynamodb")
    ddb.delete_item(TableName=TABLE, Key={"id": provision.DIRECT_ITEM["id"]})
    ddb.put_item(TableName=TABLE, Item={**provision.DIRECT_ITEM, "id": {"S": str(uuid.uuid4())}})


def direct_item_without_a_name(lab):
    lab.client("dynamodb").put_item(TableName=TABLE, Item={
        k: v for k, v in provision.DIRECT_ITEM.items() if k != "name"})


MISTAKES = {
    "Block public ACLs turned off": (bpa_off, "3.1", "has Block public ACLs turned off"),
    "Block Public Access removed": (no_bpa, "3.1", "no Block Public Access settings at all"),
    "bucket in us-east-1": (bucket_in_another_region, "3.1", "is in us-east-1, not in the lab region us-west-2"),
    'policy principal "*"': (public_policy, "3.2", 'allows everyone (Principal "*")'),
    "policy on the bucket ARN only": (policy_on_the_bucket_only, "3.2", "does not cover the bucket's objects"),
    "policy for the whole account": (policy_for_the_account, "3.2", ":root: the policy should grant only"),
    "policy for the role and a user": (policy_for_the_role_and_a_user, "3.2", "also allows arn:aws:iam::"),
    "policy that only reads": (policy_reads_only, "3.2", "only s3:GetObject, s3:ListBucket, not s3:*"),
    "no bucket policy": (no_policy, "3.2", "has no bucket policy"),
    "app on another bucket": (app_on_another_bucket, "3.3", "uses bucket employee-photo-bucket-zz-9999"),
    "9 photos": (nine_photos, "3.4", "has 9 of the 10 sample photos; missing: ingrid-larsen.png"),
    "table with a sort key": (sort_key, "3.5", "also has sort key name"),
    "a photo key not in the bucket": (photo_not_in_the_bucket, "3.6", "photo employee_pic/lost.png is not in bucket"),
    "an employee without email": (employee_without_email, "3.6", "has no email"),
    "the direct item has an app-made id": (direct_item_with_an_app_style_id, "3.7", "has no item created directly"),
    "the direct item has no name": (direct_item_without_a_name, "3.7", "Item emp-001 has no name"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_fails_exactly_its_step(solved, mistake):
    make, step_id, says = MISTAKES[mistake]
    make(solved)
    steps = {s.id: s for s in solved.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == {step_id}, \
        [(s.id, s.message) for s in steps.values() if s.status != PASS]
    assert says in steps[step_id].message and steps[step_id].hint


def web_security_group(lab: LabDriver) -> str:
    return lab.client("ec2").describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["Web Security Group"]}])["SecurityGroups"][0]["GroupId"]


def test_an_app_the_internet_cannot_reach_or_a_stopped_instance_fails_3_3_only(solved):
    """As on AWS, 3.3 and 3.7 ask the app on the instance: without HTTP in its security group nothing
    answers, and a stopped instance has no app; a copy served here by `invoke app.run` does not count."""
    ec2, group, url = solved.client("ec2"), web_security_group(solved), app_url(solved)
    http = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[http])
    steps = {s.id: s for s in solved.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == {"3.3"}
    assert f"The app at {url} did not answer" in steps["3.3"].message
    assert "the internet does not reach the instance on HTTP" in steps["3.3"].message
    assert "security group rule for TCP 80 from 0.0.0.0/0" in steps["3.3"].hint
    assert steps["3.7"].notes and "Not checked: that the app lists it" in steps["3.7"].notes[0]

    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[http])
    instance = web_instance(solved)["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance])
    with webapp.serving(solved.settings, solved.target, port=0) as here, webapp.in_background(here):
        assert webapp.ask(here.url)["settings"]["bucket"]["name"] == bucket_of(solved)  # it answers, here
        steps = {s.id: s for s in solved.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == {"3.3"}
    assert steps["3.3"].message.startswith(f"Instance Web Application ({instance}) is stop")
    assert f"aws ec2 start-instances --instance-ids {instance}" in steps["3.3"].hint
    assert "Not checked: that the app lists it" in steps["3.7"].notes[0]


def test_an_instance_role_without_access_fails_what_the_app_cannot_do(solved):
    """The app works with the instance's role: without DynamoDB in the role's policy it cannot list
    the employees (3.7); an instance without the role (once rebooted) has no keys at all (3.3, 3.7)."""
    iam, ec2, account = solved.client("iam"), solved.client("ec2"), solved.settings.sandbox_account
    policy = approle.permissions(account)
    no_dynamodb = {**policy, "Statement": [s for s in policy["Statement"] if "dynamodb" not in json.dumps(s)]}
    iam.put_role_policy(RoleName=approle.ROLE, PolicyName=approle.POLICY, PolicyDocument=json.dumps(no_dynamodb))
    steps = {s.id: s for s in solved.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == {"3.7"}
    assert "cannot list the employees" in steps["3.7"].message and "AccessDenied" in steps["3.7"].message
    assert "must allow dynamodb:Scan" in steps["3.7"].hint

    iam.put_role_policy(RoleName=approle.ROLE, PolicyName=approle.POLICY, PolicyDocument=json.dumps(policy))
    instance = web_instance(solved)["InstanceId"]
    [association] = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance]}])["IamInstanceProfileAssociations"]
    ec2.disassociate_iam_instance_profile(AssociationId=association["AssociationId"])
    ec2.reboot_instances(InstanceIds=[instance])
    steps = {s.id: s for s in solved.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == {"3.3", "3.7"}
    for step in ("3.3", "3.7"):
        assert "has no AWS keys" in steps[step].message and "has no IAM role" in steps[step].message
        assert "Attach role EmployeeDirectoryAppRole to instance Web Application" in steps[step].hint


# --- table mistakes that stop the app from writing: 3.6 (and 3.7) name 3.5 as the cause -----

def remake_table(lab, name: str, key: str, key_type: str, items: list[dict]) -> None:
    ddb = lab.client("dynamodb")
    ddb.delete_table(TableName=TABLE)
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": key, "AttributeType": key_type}],
                     KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    for item in items:
        ddb.put_item(TableName=name, Item=item)


TABLE_MISTAKES = {
    "named employees": (("employees", "id", "S", [provision.DIRECT_ITEM]), {"3.5", "3.6", "3.7"},
                        "Table employees is not named Employees: table names are case-sensitive",
                        "finish step 3.5 first"),
    "partition key Id": ((TABLE, "Id", "S", [{"Id": {"S": "emp-001"}, "name": {"S": "Dohyun Yoon"}}]),
                         {"3.5", "3.6", "3.7"}, "partition key Id, not id",
                         "partition key is Id (S), not id (String); fix step 3.5 first"),
    # The app cannot add to it, but an item made in the console with a number id still shows: 3.7 passes.
    "partition key id of type Number": ((TABLE, "id", "N", [{"id": {"N": "1"}, "name": {"S": "Dohyun Yoon"}}]),
                                        {"3.5", "3.6"}, "partition key id is of type N, not String",
                                        "partition key is id (N)"),
}


@pytest.mark.parametrize("mistake", TABLE_MISTAKES)
def test_a_table_the_app_cannot_write_fails_3_5_and_names_it_as_the_cause(solved, mistake):
    table, failing, says, later_says = TABLE_MISTAKES[mistake]
    remake_table(solved, *table)
    steps = {s.id: s for s in solved.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == failing
    assert says in steps["3.5"].message
    for later in failing - {"3.5"}:
        assert later_says in steps[later].message


def test_the_app_really_cannot_add_to_a_table_keyed_by_a_number(solved):
    remake_table(solved, *TABLE_MISTAKES["partition key id of type Number"][0])
    form = {"name": "New Hire", "email": "n@example.com", "location": "Seoul"}
    with pytest.raises(BootcampError, match="refused /add"):
        webapp.submit(app_url(solved), "/add", form)


# --- valid variants pass ---------------------------------------------------------------------

def other_bucket_name(lab):
    """Everything on a bucket with other initials and digits (the solver's bucket deleted)."""
    s3, old = lab.client("s3"), bucket_of(lab)
    new = f"employee-photo-bucket-kim-{lab.settings.sandbox_account[-4:]}"
    s3.create_bucket(Bucket=new, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    for obj in s3.list_objects_v2(Bucket=old)["Contents"]:
        s3.copy_object(Bucket=new, Key=obj["Key"], CopySource={"Bucket": old, "Key": obj["Key"]})
        s3.delete_object(Bucket=old, Key=obj["Key"])
    s3.delete_bucket_policy(Bucket=old)
    s3.delete_bucket(Bucket=old)
    set_policy(lab, grant(lab, {"AWS": role_arn(lab)}, both(new)), bucket=new)
    webapp.submit(app_url(lab), "/settings", {"bucket": new})


def policy_with_a_deny_statement(lab):
    bucket = bucket_of(lab)
    set_policy(lab, grant(lab, {"AWS": role_arn(lab)}, both(bucket)),
               {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": both(bucket),
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}})


def policy_in_two_statements(lab):
    bucket = bucket_of(lab)
    set_policy(lab, grant(lab, {"AWS": [role_arn(lab)]}, [f"arn:aws:s3:::{bucket}"], action=["s3:*"], sid="Bucket"),
               grant(lab, {"AWS": role_arn(lab)}, f"arn:aws:s3:::{bucket}/*", sid="Objects"),
               grant(lab, {"AWS": role_arn(lab)}, f"arn:aws:s3:::{bucket}/*", action="s3:GetObject", sid="Extra"))


def items_with_extra_attributes(lab):
    ddb = lab.client("dynamodb")
    for item in ddb.scan(TableName=TABLE)["Items"]:
        ddb.put_item(TableName=TABLE, Item={**item, "department": {"S": "Engineering"}, "floor": {"N": "7"}})


def photos_under_a_prefix(lab):
    s3, bucket = lab.client("s3"), bucket_of(lab)
    for name in photos.SAMPLES:
        s3.copy_object(Bucket=bucket, Key=f"samples/{name}", CopySource={"Bucket": bucket, "Key": name})
    s3.delete_object(Bucket=bucket, Key="ingrid-larsen.png")  # not used by any employee


def table_with_provisioned_capacity(lab):
    """The console's default settings: provisioned capacity, not on-demand."""
    ddb = lab.client("dynamodb")
    items = ddb.scan(TableName=TABLE)["Items"]
    ddb.delete_table(TableName=TABLE)
    ddb.create_table(TableName=TABLE, AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    for item in items:
        ddb.put_item(TableName=TABLE, Item=item)


def an_upload_through_the_app(lab):
    """An employee whose photo was uploaded through the app (key employee_pic/...)."""
    from app_support import Client
    answer = Client(app_url(lab)).post("/add", {"name": "Amara Okafor", "email": "amara@example.com",
                                                "location": "Lagos"},
                                       files={"photo": ("amara.png", "image/png", photos.sample_photos()["amara-okafor.png"])})
    assert answer.status == 303, answer.text


VARIANTS = {
    "a bucket with other initials and digits": other_bucket_name,
    "a policy with an extra Deny statement": policy_with_a_deny_statement,
    "a policy in two statements plus a narrower one": policy_in_two_statements,
    "items with extra attributes": items_with_extra_attributes,
    "photos under a prefix": photos_under_a_prefix,
    "a table with provisioned capacity": table_with_provisioned_capacity,
    "a photo uploaded through the app": an_upload_through_the_app,
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_valid_variant_passes(solved, variant):
    VARIANTS[variant](solved)
    failing = [(s.id, s.message) for s in solved.grade().steps if s.status != PASS]
    assert not failing


# --- judged offline, from a saved inventory --------------------------------------------------

def test_an_item_the_app_does_not_list_fails_3_7_offline(solved):
    """The app reads another table than the learner's item is in: judged from a snapshot, no account."""
    lab = solved.lab
    inventory = grading.collect(lab, solved.target, solved.settings.home)
    for answer in inventory.data["app"]["answers"]:
        answer["employees"] = [e for e in answer["employees"] if e["id"] != "emp-001"]
    regraded = {s.id: s for s in grading.regrade(lab, inventory).steps}
    assert {i for i, s in regraded.items() if s.status != PASS} == {"3.7"}
    assert "does not list item emp-001" in regraded["3.7"].message


def test_a_snapshot_regrades_to_the_same_result(solved, tmp_path):
    snapshot = tmp_path / "snapshot.json"
    out = run_invoke("lab.grade", "3", "--snapshot", str(snapshot), env=sandbox_env(solved.settings))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    again = run_invoke("lab.grade", "3", "--from-snapshot", str(snapshot), "--json", str(tmp_path / "g.json"))
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr
    assert {s["id"]: s["status"] for s in json.loads((tmp_path / "g.json").read_text())["steps"]} == \
        {i: PASS for i in LAB3}


def test_static_files_posing_as_the_app_are_never_registered(settings, target):
    """The registry is how a grade finds a copy served here (on LocalStack's side, a beacon file):
    only an http:// app on this machine, registered by the account itself (a file:// "app" of two
    static files was graded once)."""
    fake, account = "file:///tmp/api", settings.sandbox_account
    with pytest.raises(BootcampError, match="http:// address on this machine"):
        control.register_app(settings, account, fake, 424242)
    assert webapp.announced(target, settings.home) == []


# --- clean, verify, the app through invoke ----------------------------------------------------

def test_clean_removes_what_the_lab_made_and_names_what_the_learner_made(lab3):
    lab3.run("start")
    lab3.run("solve")
    s3, ddb = lab3.client("s3"), lab3.client("dynamodb")
    mine = f"employee-photo-bucket-me-{lab3.settings.sandbox_account[-4:]}"
    s3.create_bucket(Bucket=mine, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    ddb.create_table(TableName="employees", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    lab3.run("clean")
    assert lab3.lab.provision.leftovers(lab3.context()) == []
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [mine]
    assert ddb.list_tables()["TableNames"] == ["employees"]
    log = "\n".join(lab3.log)
    assert f"left bucket {mine}: you made it" in log and "left table employees" in log
    assert not lab3.client("iam").list_roles()["Roles"] or all(
        r["RoleName"] != "EmployeeDirectoryAppRole" for r in lab3.client("iam").list_roles()["Roles"])
    assert not [i for r in lab3.client("ec2").describe_instances()["Reservations"] for i in r["Instances"]
                if i["State"]["Name"] not in ("terminated", "shutting-down")]


def test_clean_with_the_learners_own_subnet_in_the_lab_vpc_changes_nothing_and_names_it(lab3):
    lab3.run("start")
    ec2 = lab3.client("ec2")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["Lab VPC"]}])["Vpcs"]
    mine = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.5.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="my-db", Description="mine", VpcId=vpc["VpcId"])["GroupId"]
    before, logged = provision.leftovers(lab3.context()), len(lab3.log)
    with pytest.raises(BootcampError) as refused:
        lab3.run("clean")
    said = str(refused.value)
    assert "\n" not in said and f"your subnet {mine} and your security group my-db ({group}) use the lab network" in said
    assert "then run `invoke lab.clean 3` again" in said
    assert provision.leftovers(lab3.context()) == before and len(lab3.log) == logged
    ec2.delete_subnet(SubnetId=mine)
    ec2.delete_security_group(GroupId=group)
    lab3.run("clean")
    assert provision.leftovers(lab3.context()) == []


def test_each_account_has_its_own_photos_on_this_machine(lab3, settings):
    other = LabDriver("3", settings.but(sandbox_account=f"{int(settings.sandbox_account) + 800000:012d}"))
    lab3.run("start")
    other.run("start")
    lab3.run("clean")
    assert provision.photos_dir(other.context()).is_dir() and other.lab.provision.leftovers(other.context())
    assert lab3.lab.provision.leftovers(lab3.context()) == []
    other.run("clean")
    assert not provision.photos_dir(other.context()).parent.exists()


def test_verify_through_invoke(settings):
    out = run_invoke("lab.verify", "3", env=sandbox_env(settings), timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    assert "lab 3 verified on embedded" in out.stdout
