"""The sandbox keeps what learners build: down/up, kill -9/up, reset, save/load, refused states.

These tests restart a sandbox of their own (its own home and port), never the session's.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from bootcamp.errors import SandboxError
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.targets import make_target
from conftest import LabDriver, an_image, run_invoke, sandbox_env

PHOTO = bytes(range(256)) * 64  # 16 KiB that are not text


@pytest.fixture(scope="module")
def lasting(tmp_path_factory):
    """A sandbox of this module's own, which its tests stop, kill and start again."""
    settings = Settings.from_env(env={}, home=tmp_path_factory.mktemp("lasting-home"),
                                 sandbox_port=control.free_port(), owner="tester")
    control.up(settings)
    yield settings
    control.down(settings)


def account(lasting, n: int) -> Settings:
    return lasting.but(sandbox_account=f"{os.getpid() % 10000:04d}7700{n:04d}")


def restart(settings: Settings, kill: bool = False, **env) -> None:
    """Stop the sandbox (SIGTERM, or SIGKILL as a crash does) and start it again."""
    if kill:
        os.kill(control.status(settings).pid, signal.SIGKILL)
        control.status(settings)  # now "died": up starts a new process on the same home
    else:
        control.down(settings)
    control.up(settings, env=env)


def flush(settings: Settings) -> None:
    """Wait until every answered change is on disk; no unit may have failed to be written."""
    answer = control.flush(settings)
    assert answer["flushed"] and answer["failures"] == []


def build_things(settings: Settings, instance: bool = True) -> dict:
    """An IAM user with a key and a login profile, an S3 object, a DynamoDB item, a stopped instance."""
    target = make_target(settings)
    iam, s3, ddb, ec2 = (target.client(s) for s in ("iam", "s3", "dynamodb", "ec2"))
    iam.create_user(UserName="ana")
    key = iam.create_access_key(UserName="ana")["AccessKey"]
    iam.create_login_profile(UserName="ana", Password="Passw0rd!Passw0rd")
    bucket = f"photos-{settings.sandbox_account}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket=bucket, Key="a/photo.bin", Body=PHOTO)
    ddb.create_table(TableName="Employees", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="Employees", Item={"id": {"S": "emp-001"}, "name": {"S": "Ana"}})
    made = {"key": key, "bucket": bucket}
    if instance:
        image = an_image(ec2)["ImageId"]
        made["instance"] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        ec2.stop_instances(InstanceIds=[made["instance"]])
    return made


def check_things(settings: Settings, made: dict) -> None:
    target = make_target(settings)
    iam, s3, ddb, ec2 = (target.client(s) for s in ("iam", "s3", "dynamodb", "ec2"))
    keys = iam.list_access_keys(UserName="ana")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [made["key"]["AccessKeyId"]]
    assert iam.get_login_profile(UserName="ana")["LoginProfile"]["UserName"] == "ana"
    ana = boto3.client("sts", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                       aws_access_key_id=made["key"]["AccessKeyId"],
                       aws_secret_access_key=made["key"]["SecretAccessKey"])
    assert ana.get_caller_identity()["Arn"].endswith(f"{settings.sandbox_account}:user/ana")
    assert s3.get_object(Bucket=made["bucket"], Key="a/photo.bin")["Body"].read() == PHOTO
    item = ddb.get_item(TableName="Employees", Key={"id": {"S": "emp-001"}})["Item"]
    assert item["name"] == {"S": "Ana"}
    if "instance" in made:
        state = ec2.describe_instances(InstanceIds=[made["instance"]])["Reservations"][0]["Instances"][0]["State"]
        assert state["Name"] == "stopped"


def test_down_then_up_brings_back_every_account_and_lab_2_grades_the_same(lasting):
    lab = LabDriver("2", account(lasting, 1))
    lab.run("start")
    lab.run("solve")
    graded = lab.statuses()
    other = account(lasting, 2)
    made = build_things(other)
    control.register_app(other, other.sandbox_account, "http://127.0.0.1:9/", 4242)
    vpcs = lab.client("ec2").describe_vpcs()["Vpcs"]
    instances = lab.client("ec2").describe_instances()["Reservations"]
    image_id = instances[0]["Instances"][0]["ImageId"]
    image = lab.client("ec2").describe_images(ImageIds=[image_id])["Images"]
    flush(lasting)

    restart(lasting)

    check_things(other, made)
    assert control.registered_apps(other, other.sandbox_account)[0]["pid"] == 4242
    lab = LabDriver("2", lab.settings)
    assert lab.statuses() == graded
    assert lab.client("ec2").describe_vpcs()["Vpcs"] == vpcs
    assert lab.client("ec2").describe_images(ImageIds=[image_id])["Images"] == image  # a public AMI, snapshot too
    lab.run("start")  # a start after a restore changes nothing
    assert lab.client("ec2").describe_instances()["Reservations"] == instances
    assert lab.statuses() == graded


def test_kill_9_loses_nothing_that_was_answered(lasting):
    later = account(lasting, 4)
    made_later = build_things(later, instance=False)
    flush(lasting)  # async: on disk within the bound; flush waits for it
    restart(lasting, kill=True, BOOTCAMP_SANDBOX_DURABILITY="sync")
    check_things(later, made_later)

    synced = account(lasting, 3)
    made = build_things(synced, instance=False)  # sync: on disk before each answer, no wait before the kill
    restart(lasting, kill=True)
    check_things(synced, made)
    check_things(later, made_later)


def test_reset_of_one_account_then_of_every_account_says_what_it_removed(lasting):
    one, two = account(lasting, 5), account(lasting, 6)
    for s in (one, two):
        make_target(s).client("sqs").create_queue(QueueName="q")
    line = control.reset(one, one.sandbox_account)
    assert line.startswith(f"sandbox reset: account {one.sandbox_account} is empty (removed: ") and "sqs" in line
    assert one.sandbox_account not in control.state_status(one)["accounts"]
    assert two.sandbox_account in control.state_status(one)["accounts"]
    assert "QueueUrls" not in make_target(one).client("sqs").list_queues()
    assert len(make_target(two).client("sqs").list_queues()["QueueUrls"]) == 1
    line = control.reset(two)
    assert line.startswith("sandbox reset: every account is empty (removed ")
    assert control.state_status(two)["accounts"] == []
    assert "QueueUrls" not in make_target(two).client("sqs").list_queues()


def test_save_then_load_into_another_account(lasting, tmp_path):
    teacher, learner = account(lasting, 7), account(lasting, 8)
    ddb = make_target(teacher).client("dynamodb")
    ddb.create_table(TableName="Employees", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="Employees", Item={"id": {"S": "emp-001"}})
    make_target(teacher).client("iam").create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    path = tmp_path / "lab-start.state"
    result = run_invoke("sandbox.save", str(path), "--account", teacher.sandbox_account, env=sandbox_env(teacher))
    assert result.returncode == 0 and f"saved account {teacher.sandbox_account} to {path}" in result.stdout
    result = run_invoke("sandbox.load", str(path), "--account", learner.sandbox_account, env=sandbox_env(learner))
    assert result.returncode == 0, result.stderr
    learned = make_target(learner)
    assert learned.client("dynamodb").get_item(TableName="Employees", Key={"id": {"S": "emp-001"}})["Item"]
    arn = learned.client("iam").get_role(RoleName="app")["Role"]["Arn"]
    assert arn == f"arn:aws:iam::{learner.sandbox_account}:role/app"
    assert make_target(teacher).client("iam").get_role(RoleName="app")["Role"]["Arn"].split(":")[4] == \
        teacher.sandbox_account

    mixed = tmp_path / "everyone.state"
    control.save(teacher, mixed)
    result = run_invoke("sandbox.load", str(mixed), "--account", learner.sandbox_account, env=sandbox_env(learner))
    assert result.returncode != 0 and "--account needs a state of exactly one" in result.stderr


def test_a_damaged_state_is_refused_in_one_line_naming_the_file(lasting, tmp_path):
    s = account(lasting, 10)
    make_target(s).client("sqs").create_queue(QueueName="kept")
    path = tmp_path / "saved.state"
    control.save(s, path, s.sandbox_account)
    path.write_bytes(path.read_bytes()[:-5])
    result = run_invoke("sandbox.load", str(path), env=sandbox_env(s))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].endswith(f"refused: {path}: damaged (its checksum does not match)")
    assert make_target(s).client("sqs").get_queue_url(QueueName="kept")


def test_a_state_of_another_version_is_refused_and_kept_until_told_to_start_empty(lasting):
    s = account(lasting, 9)
    make_target(s).client("sqs").create_queue(QueueName="kept")
    control.down(lasting)
    path = control.state_folder(lasting) / "accounts" / s.sandbox_account / "sqs.state"
    head, payload = path.read_bytes().split(b"\n", 1)
    path.write_bytes(head.replace(b'"moto": "5.', b'"moto": "4.') + b"\n" + payload)
    old = path.read_bytes()
    with pytest.raises(SandboxError, match=f"refused {path}: written by project .* with moto 4"):
        control.up(lasting)
    assert path.read_bytes() == old
    control.up(lasting, fresh=True)
    aside = list(path.parents[3].glob("state.refused-*"))
    assert len(aside) == 1 and (aside[0] / "accounts" / s.sandbox_account / "sqs.state").read_bytes() == old
    with pytest.raises(ClientError, match="NonExistentQueue"):
        make_target(s).client("sqs").get_queue_url(QueueName="kept")


def test_control_calls_need_the_token_the_sandbox_wrote_to_its_home(lasting):
    token_file = lasting.home / "sandbox" / f"{lasting.sandbox_port}.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    for path, method in (("/_bootcamp/faults", "POST"), ("/_bootcamp/state/reset", "POST"),
                         ("/_bootcamp/state/save", "GET"), ("/moto-api/reset", "POST")):
        request = urllib.request.Request(f"{control.endpoint(lasting)}{path}", method=method, data=b"{}"
                                         if method == "POST" else None, headers={"X-Bootcamp-Token": "guess"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403 and b"X-Bootcamp-Token" in refused.value.read()
    control.inject_faults(lasting, 0)  # the project's own calls carry it
    assert control.flush(lasting)["flushed"]
