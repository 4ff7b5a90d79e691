"""Lab 3 on the sandbox: start, the graders (every step passes solved; a realistic mistake fails
exactly its step; valid variants pass), the app asked for its own settings, clean."""

from __future__ import annotations

import base64
import json
import sys
import uuid

import boto3
import pytest
from conftest import ROOT, LabDriver, run_invoke, sandbox_env

from bootcamp import grading, photos, userdata, webapp
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
    [url] = webapp.announced(lab.target, lab.settings.home)
    return url


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
    """Lab 3 done as the course asks, with the app running here (as `invoke app.run` serves it)."""
    lab3.run("start")
    lab3.run("solve")
    with lab3.running():
        yield lab3


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
    assert "invoke app.run" in "\n".join(lab3.log)


def test_start_is_idempotent_and_refuses_a_role_it_did_not_make(lab3, settings):
    lab3.run("start")
    before = len(lab3.log)
    lab3.run("start")
    assert not [line for line in lab3.log[before:] if line.startswith("  ") and "app.run" not in line]
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
    with lab3.running():
        assert lab3.failing() == set()


# --- fresh and solved ------------------------------------------------------------------------

def test_fresh_every_step_fails_with_a_hint(lab3):
    lab3.run("start")
    with lab3.running():
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
    """3.3 follows what the running app reports: a settings file edited behind its back changes nothing
    until the app itself says so, and an app that stops answering fails 3.3 only."""
    url = app_url(solved)
    answer = webapp.ask(url)
    assert answer["settings"]["bucket"]["name"] == bucket_of(solved)
    assert {e["id"] for e in answer["employees"]} >= {provision.DIRECT_ITEM["id"]["S"]}
    webapp.submit(url, "/settings", {"bucket": "employee-photo-bucket-zz-0000"})
    step = solved.step("3.3")
    assert step.status == FAIL and "uses bucket employee-photo-bucket-zz-0000" in step.message
    assert url in step.hint


def test_the_app_here_has_the_instance_roles_permissions(solved):
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


def test_the_app_not_running_fails_only_3_3_and_3_7_says_what_it_could_not_check(lab3):
    lab3.run("start")
    lab3.run("solve")
    steps = {s.id: s for s in lab3.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == {"3.3"}
    assert "not running for this account on the embedded target" in steps["3.3"].message
    assert "invoke app.run" in steps["3.3"].hint
    assert steps["3.7"].notes and "Not checked: that the app lists it" in steps["3.7"].notes[0]


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


def test_an_app_that_stopped_without_saying_so_fails_3_3_with_the_reason(lab3):
    lab3.run("start")
    lab3.run("solve")
    gone = f"http://127.0.0.1:{control.free_port()}"
    control.register_app(lab3.settings, lab3.settings.sandbox_account, gone, 424242)  # killed, still listed
    try:
        step = lab3.step("3.3")
    finally:
        control.unregister_app(lab3.settings, lab3.settings.sandbox_account, gone)
    assert step.status == FAIL and f"The app at {gone} did not answer" in step.message


def test_static_files_posing_as_the_app_are_never_asked(lab3, tmp_path):
    """A registry entry is how a grade finds the app: only an http:// app on this machine, and
    registered by the account itself, is asked (a file:// "app" of two static files was graded)."""
    lab3.run("start")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "settings").write_text(json.dumps(
        {"app": "employee-directory", "bucket": {"name": "employee-photo-bucket-ab-1234"}, "table": TABLE}))
    (tmp_path / "api" / "employees").write_text("[]")
    fake, account = f"file://{tmp_path}", lab3.settings.sandbox_account
    with pytest.raises(BootcampError, match="http:// address on this machine"):
        control.register_app(lab3.settings, account, fake, 424242)
    assert webapp.announced(lab3.target, lab3.settings.home) == []
    step = lab3.step("3.3")
    assert step.status == FAIL and "not running" in step.message


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
