"""The embedded sandbox as a learner's tools see it: the AWS CLI, accounts by key, IAM enforced for users."""

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from bootcamp.errors import SandboxError
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.sandbox.control import free_port
from conftest import ROOT, run_invoke, sandbox_env


def run_shell(aws_cli: Path, settings, script: str) -> subprocess.CompletedProcess:
    """bash with the learner's `eval "$(invoke sandbox.env ...)"`, then the script.

    Its `aws` is the real AWS CLI forked from the worker's loaded copy (conftest's `aws_cli`),
    whose folder comes first on PATH; everything else is found where the learner's shell finds it.
    """
    env = {k: v for k, v in sandbox_env(settings).items() if k.startswith("BOOTCAMP_")}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOOTCAMP_"))}
    path = os.pathsep.join([str(aws_cli.parent), base.get("PATH", os.defpath)])
    return subprocess.run(["bash", "-ec", script], cwd=ROOT, env={**base, **env, "PATH": path},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def shell(aws_cli):
    """`shell(settings, script)`: see run_shell."""
    return lambda settings, script: run_shell(aws_cli, settings, script)


def test_the_aws_cli_works_through_sandbox_env(lab1, shell):
    lab1.run("start")
    out = shell(lab1.settings, '''
        eval "$(python -m invoke sandbox.env)"
        aws iam add-user-to-group --user-name user-1 --group-name S3-Support
        aws iam list-groups-for-user --user-name user-1 --query 'Groups[].GroupName' --output text
        aws sts get-caller-identity --query Account --output text
    ''')
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["S3-Support", lab1.settings.sandbox_account]
    assert lab1.statuses()["1.1"] == "PASS"


def test_sandbox_env_as_a_lab_user_is_held_to_its_policies(lab1, shell):
    lab1.run("start")
    lab1.run("solve")
    out = shell(lab1.settings, '''
        eval "$(python -m invoke sandbox.env --user user-1)"
        aws sts get-caller-identity --query Arn --output text
        aws s3api list-buckets --query 'length(Buckets)' --output text
        aws ec2 describe-instances 2>&1 || true
    ''')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == f"arn:aws:iam::{lab1.settings.sandbox_account}:user/user-1"
    assert lines[1] == "1"
    assert "is not authorized to perform: ec2:DescribeInstances" in out.stdout


def test_sandbox_env_for_a_user_the_lab_did_not_make(settings):
    result = run_invoke("sandbox.env", "--user", "user-7", env=sandbox_env(settings))
    assert result.returncode == 2 and "made no sandbox keys for 'user-7'" in result.stderr


def test_accounts_are_separated_by_access_key(lab1, sandbox):
    lab1.run("start")
    other = boto3.client("iam", endpoint_url=control.endpoint(sandbox), region_name="us-west-2",
                         aws_access_key_id="999999999999", aws_secret_access_key="x")
    assert other.list_users()["Users"] == []
    assert len(lab1.client("iam").list_users()["Users"]) == 3


def test_aws_managed_policies_exist_in_every_account(target):
    iam = target.client("iam")
    for name in ("AmazonEC2ReadOnlyAccess", "AmazonS3ReadOnlyAccess"):
        assert iam.get_policy(PolicyArn=f"arn:aws:iam::aws:policy/{name}")["Policy"]["PolicyName"] == name


def test_an_unknown_access_key_is_refused(sandbox):
    sts = boto3.client("sts", endpoint_url=control.endpoint(sandbox), region_name="us-west-2",
                       aws_access_key_id="AKIAAAAAAAAAAAAAAAAA", aws_secret_access_key="x")
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        sts.get_caller_identity()


def test_a_key_the_sandbox_did_not_issue_or_that_is_inactive_or_deleted_is_refused(target):
    def as_key(service, key_id, secret="x"):
        return boto3.client(service, endpoint_url=target.endpoint(service), region_name="us-west-2",
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        as_key("sts", "anything").get_caller_identity()
    with pytest.raises(ClientError, match="InvalidAccessKeyId"):
        as_key("s3", "anything").list_buckets()
    iam = target.client("iam")
    iam.create_user(UserName="kim")
    key = iam.create_access_key(UserName="kim")["AccessKey"]
    kim = as_key("sts", key["AccessKeyId"], key["SecretAccessKey"])
    assert kim.get_caller_identity()["Arn"].endswith(":user/kim")
    iam.update_access_key(UserName="kim", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        kim.get_caller_identity()
    iam.update_access_key(UserName="kim", AccessKeyId=key["AccessKeyId"], Status="Active")
    assert kim.get_caller_identity()["Arn"].endswith(":user/kim")
    iam.delete_access_key(UserName="kim", AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        kim.get_caller_identity()


def test_status_up_down_and_reset(tmp_path):
    settings = Settings.from_env(env={}, home=tmp_path, sandbox_port=free_port())
    env = {"BOOTCAMP_HOME": str(tmp_path), "BOOTCAMP_SANDBOX_PORT": str(settings.sandbox_port)}
    assert run_invoke("sandbox.status", env=env).returncode == 1
    up = run_invoke("sandbox.up", env=env)
    assert up.returncode == 0 and "sandbox running" in up.stdout
    assert run_invoke("sandbox.up", env=env).returncode == 0  # already up: fine
    iam = boto3.client("iam", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                       aws_access_key_id="123456789012", aws_secret_access_key="x")
    iam.create_user(UserName="someone")
    saved = tmp_path / "app" / "embedded-123456789012.json"  # the bucket the app saved on its settings page
    saved.parent.mkdir()
    saved.write_text('{"bucket": "employee-photo-bucket-zz-0001"}')
    status = run_invoke("sandbox.status", env=env).stdout
    assert f"state: {tmp_path / 'sandbox' / 'state'} (" in status and "written async" in status
    assert "sandbox reset: every account is empty" in run_invoke("sandbox.reset", env=env).stdout
    assert iam.list_users()["Users"] == [] and not saved.exists()
    assert "sandbox stopped" in run_invoke("sandbox.down", env=env).stdout
    down = run_invoke("sandbox.status", env=env).stdout
    assert "sandbox is down" in down and f"state: {tmp_path / 'sandbox' / 'state'} (" in down


# --- S3 Block Public Access, as on AWS since April 2023 -------------------------------------

ALL_FOUR = ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"]


def s3_client(settings):
    return boto3.client("s3", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                        aws_access_key_id=settings.sandbox_account, aws_secret_access_key=control.SECRET)


def bucket_policy(bucket: str, principal, action="s3:GetObject", **extra) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": action,
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"], **extra}]})


def new_bucket(settings, name: str) -> tuple:
    s3 = s3_client(settings)
    bucket = f"{name}-{settings.sandbox_account}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return s3, bucket


def test_new_buckets_block_public_access_through_the_aws_cli(settings, shell):
    account = settings.sandbox_account
    four = "PublicAccessBlockConfiguration.[" + ",".join(ALL_FOUR) + "]"
    out = shell(settings, f'''
        eval "$(python -m invoke sandbox.env)"
        aws s3api create-bucket --bucket made-by-api-{account} \\
            --create-bucket-configuration LocationConstraint=us-west-2 >/dev/null
        aws s3api get-public-access-block --bucket made-by-api-{account} --query '{four}' --output text
        aws s3 mb s3://made-by-mb-{account} >/dev/null
        aws s3api get-public-access-block --bucket made-by-mb-{account} --query '{four}' --output text
    ''')
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["True\tTrue\tTrue\tTrue"] * 2


def test_a_public_policy_waits_for_block_public_policy_off_through_the_aws_cli(settings, shell):
    bucket = f"site-{settings.sandbox_account}"
    policy = bucket_policy(bucket, "*")
    out = shell(settings, f'''
        eval "$(python -m invoke sandbox.env)"
        aws s3api create-bucket --bucket {bucket} --create-bucket-configuration LocationConstraint=us-west-2 >/dev/null
        if aws s3api put-bucket-policy --bucket {bucket} --policy '{policy}' 2>&1; then echo ACCEPTED; fi
        echo ---
        aws s3api put-public-access-block --bucket {bucket} --public-access-block-configuration \\
            BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=false,RestrictPublicBuckets=true
        aws s3api put-bucket-policy --bucket {bucket} --policy '{policy}'
        aws s3api get-bucket-policy --bucket {bucket} --query Policy --output text
    ''')
    assert out.returncode == 0, out.stderr
    refused, accepted = out.stdout.split("---\n")
    assert "AccessDenied" in refused and "BlockPublicPolicy" in refused and "ACCEPTED" not in refused
    assert json.loads(accepted) == json.loads(policy)


def test_new_buckets_block_public_access_through_boto3(settings):
    s3, bucket = new_bucket(settings, "defaults")
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == dict.fromkeys(ALL_FOUR, True)


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*"]}, ["*"]])
def test_a_public_policy_is_refused_while_block_public_policy_is_on(settings, principal):
    s3, bucket = new_bucket(settings, "public")
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, principal))
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "AccessDenied" and "BlockPublicPolicy" in error["Error"]["Message"]
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=bucket)


@pytest.mark.parametrize("why", ["a role", "a condition", "a deny"])
def test_a_policy_that_is_not_public_is_accepted_with_block_public_access_on(settings, why):
    s3, bucket = new_bucket(settings, "private")
    role = f"arn:aws:iam::{settings.sandbox_account}:role/EmployeeDirectoryAppRole"
    policy = {
        "a role": bucket_policy(bucket, {"AWS": role}, action="s3:*"),
        "a condition": bucket_policy(bucket, "*", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
        "a deny": bucket_policy(bucket, "*").replace('"Allow"', '"Deny"'),
    }[why]
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(policy)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == dict.fromkeys(ALL_FOUR, True)


def test_a_policy_that_is_not_json_is_left_to_moto(settings):
    s3, bucket = new_bucket(settings, "garbled")
    s3.put_bucket_policy(Bucket=bucket, Policy="{not json")  # moto stores it; no traceback from us
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == "{not json"


def test_a_public_policy_is_accepted_once_the_public_access_block_is_deleted(settings):
    s3, bucket = new_bucket(settings, "opened")
    s3.delete_public_access_block(Bucket=bucket)
    with pytest.raises(ClientError, match="NoSuchPublicAccessBlockConfiguration"):
        s3.get_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, {"AWS": ["*"]}))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Principal"] == {"AWS": ["*"]}


# --- the app registry: where `invoke app.run` serves the web app, for graders ---------------

def other_account(settings) -> str:
    """A second account no other test uses: the fixture's counter never reaches 90 million."""
    return settings.sandbox_account[:4] + "9" + settings.sandbox_account[5:]


def post_apps(settings, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"{control.endpoint(settings)}/_bootcamp/apps", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_the_app_registry_lists_filters_replaces_and_removes(settings):
    mine, theirs = settings.sandbox_account, other_account(settings)
    control.register_app(settings, mine, "http://127.0.0.1:8001", 101)
    control.register_app(settings, mine, "http://127.0.0.1:8002", 102)
    control.register_app(settings, theirs, "http://127.0.0.1:8003", 103)
    assert control.registered_apps(settings, mine) == [
        {"account": mine, "url": "http://127.0.0.1:8001", "pid": 101},
        {"account": mine, "url": "http://127.0.0.1:8002", "pid": 102}]
    assert control.registered_apps(settings, theirs) == [
        {"account": theirs, "url": "http://127.0.0.1:8003", "pid": 103}]
    with urllib.request.urlopen(f"{control.endpoint(settings)}/_bootcamp/apps", timeout=5) as answer:
        everyone = json.loads(answer.read())["apps"]
    assert {a["pid"] for a in everyone if a["account"] in (mine, theirs)} == {101, 102, 103}

    control.register_app(settings, mine, "http://127.0.0.1:8001", 201)  # app.run again: replaced
    assert sorted((a["url"], a["pid"]) for a in control.registered_apps(settings, mine)) == [
        ("http://127.0.0.1:8001", 201), ("http://127.0.0.1:8002", 102)]

    left = control.post_app(settings, {"account": mine, "url": "http://127.0.0.1:8002", "remove": True})
    assert left == [{"account": mine, "url": "http://127.0.0.1:8001", "pid": 201}]
    control.unregister_app(settings, mine, "http://127.0.0.1:8001")
    assert control.registered_apps(settings, mine) == []
    assert len(control.registered_apps(settings, theirs)) == 1


@pytest.mark.parametrize("body", [
    "{not json", "[1, 2]", '{"url": "http://127.0.0.1:8001", "pid": 1}',
    '{"account": "ACCOUNT", "pid": 1}', '{"account": "ACCOUNT", "url": "http://127.0.0.1:8001"}',
    '{"account": "ACCOUNT", "url": "http://127.0.0.1:8001", "pid": "1"}',
    '{"account": "12345", "url": "http://127.0.0.1:8001", "pid": 1}'])
def test_a_bad_app_registration_is_answered_400_in_json(settings, body):
    status, answer = post_apps(settings, body.replace("ACCOUNT", settings.sandbox_account).encode())
    assert status == 400 and isinstance(answer["error"], str) and answer["error"]
    assert control.registered_apps(settings, settings.sandbox_account) == []


@pytest.mark.parametrize("url", ["file:///tmp/fake-app", "http://203.0.113.7", "https://127.0.0.1:8443",
                                 "http://127.0.0.1:port", "ftp://localhost/app"])
def test_only_an_http_app_on_this_machine_can_be_registered(settings, url):
    with pytest.raises(SandboxError, match="http:// address on this machine"):
        control.register_app(settings, settings.sandbox_account, url, 101)
    assert control.registered_apps(settings, settings.sandbox_account) == []


def test_a_registration_must_be_signed_by_that_account(settings):
    mine, body = settings.sandbox_account, {"account": settings.sandbox_account, "url": "http://127.0.0.1:8001", "pid": 1}
    status, answer = post_apps(settings, json.dumps(body).encode())  # unsigned
    assert status == 403 and "Signature Version 4" in answer["error"]
    with pytest.raises(SandboxError, match=f"not signed by account {mine}"):
        control.post_app(settings, body, (other_account(settings), control.SECRET))
    stranger = boto3.client("iam", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                            aws_access_key_id=other_account(settings), aws_secret_access_key=control.SECRET)
    stranger.create_user(UserName="stranger")
    theirs = stranger.create_access_key(UserName="stranger")["AccessKey"]
    with pytest.raises(SandboxError, match=f"not signed by account {mine}"):
        control.post_app(settings, body, (theirs["AccessKeyId"], theirs["SecretAccessKey"]))
    assert control.registered_apps(settings, mine) == []
    root = boto3.client("iam", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                        aws_access_key_id=mine, aws_secret_access_key=control.SECRET)
    root.create_user(UserName="learner")
    key = root.create_access_key(UserName="learner")["AccessKey"]
    control.register_app(settings, mine, "http://127.0.0.1:8001", 1, (key["AccessKeyId"], key["SecretAccessKey"]))
    assert [a["url"] for a in control.registered_apps(settings, mine)] == ["http://127.0.0.1:8001"]
    control.unregister_app(settings, mine, "http://127.0.0.1:8001")


def test_the_app_registry_without_a_sandbox_says_so_in_one_line(tmp_path):
    nowhere = Settings.from_env(env={}, home=tmp_path, sandbox_port=free_port())
    with pytest.raises(SandboxError) as down:
        control.registered_apps(nowhere, "123456789012")
    assert str(down.value).count("\n") == 0 and control.endpoint(nowhere) in str(down.value)
    assert "sandbox.up" in str(down.value)
    with pytest.raises(SandboxError):
        control.register_app(nowhere, "123456789012", "http://127.0.0.1:8001", 1)
    control.unregister_app(nowhere, "123456789012", "http://127.0.0.1:8001")  # on exit: no error


def test_a_dynamodb_refusal_by_iam_reaches_the_sdk_and_the_cli_in_json(settings, shell):
    """moto words IAM refusals in XML; DynamoDB's SDKs read JSON, so the reason was lost."""
    root = boto3.client("iam", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                        aws_access_key_id=settings.sandbox_account, aws_secret_access_key=control.SECRET)
    root.create_user(UserName="no-dynamodb")
    key = root.create_access_key(UserName="no-dynamodb")["AccessKey"]
    user = boto3.client("dynamodb", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as refused:
        user.list_tables()
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: dynamodb:ListTables" in refused.value.response["Error"]["Message"]
    cli = shell(settings, f'''
        eval "$(python -m invoke sandbox.env)"
        export AWS_ACCESS_KEY_ID={key["AccessKeyId"]} AWS_SECRET_ACCESS_KEY={key["SecretAccessKey"]}
        aws dynamodb list-tables
    ''')
    assert cli.returncode != 0
    assert "(AccessDeniedException)" in cli.stderr and "dynamodb:ListTables" in cli.stderr


def test_dynamodb_permissions_are_judged_per_table(settings, shell):
    """A grant on one table's ARN (as the labs' app role has) allows that table only."""
    root = boto3.client("iam", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                        aws_access_key_id=settings.sandbox_account, aws_secret_access_key=control.SECRET)
    tables = boto3.client("dynamodb", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                          aws_access_key_id=settings.sandbox_account, aws_secret_access_key=control.SECRET)
    for name in ("Employees", "Payroll"):
        tables.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    root.create_user(UserName="app")
    root.put_user_policy(UserName="app", PolicyName="one-table", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:ListTables", "Resource": "*"},
            {"Effect": "Allow", "Action": ["dynamodb:Scan", "dynamodb:PutItem"],
             "Resource": f"arn:aws:dynamodb:*:{settings.sandbox_account}:table/Employees"}]}))
    key = root.create_access_key(UserName="app")["AccessKey"]
    user = boto3.client("dynamodb", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    assert user.list_tables()["TableNames"] == ["Employees", "Payroll"]
    user.put_item(TableName="Employees", Item={"id": {"S": "1"}})
    assert user.scan(TableName="Employees")["Count"] == 1
    with pytest.raises(ClientError) as refused:
        user.scan(TableName="Payroll")
    assert "dynamodb:Scan" in refused.value.response["Error"]["Message"]
    cli = shell(settings, f'''
        eval "$(python -m invoke sandbox.env)"
        export AWS_ACCESS_KEY_ID={key["AccessKeyId"]} AWS_SECRET_ACCESS_KEY={key["SecretAccessKey"]}
        aws dynamodb scan --table-name Employees --query Count --output text
        aws dynamodb scan --table-name Payroll
    ''')
    assert cli.stdout.split() == ["1"] and "(AccessDeniedException)" in cli.stderr


def test_unsigned_requests_are_anonymous_and_read_only_what_a_policy_makes_public(target):
    base = target.endpoint("s3")

    def unsigned(method: str, path: str, data: bytes | None = None, headers: dict | None = None) -> int:
        request = urllib.request.Request(base + path, method=method, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    s3 = target.client("s3")
    bucket = f"open-{target.settings.sandbox_account}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket=bucket, Key="public/a.txt", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="private/b.txt", Body=b"secret")
    assert unsigned("GET", "/") == 403  # list buckets
    assert unsigned("PUT", f"/anon-{target.settings.sandbox_account}") == 403  # create a bucket
    assert unsigned("GET", f"/{bucket}/public/a.txt") == 403  # no policy yet
    assert unsigned("POST", "/", b"Action=ListUsers&Version=2010-05-08",
                    {"Content-Type": "application/x-www-form-urlencoded"}) == 403
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/public/*"}]}))
    assert unsigned("GET", f"/{bucket}/public/a.txt") == 200
    assert unsigned("GET", f"/{bucket}/private/b.txt") == 403
    assert unsigned("PUT", f"/{bucket}/public/c.txt", b"x") == 403
    assert "anon-" not in str(s3.list_buckets()["Buckets"])
