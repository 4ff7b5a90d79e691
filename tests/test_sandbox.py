"""The embedded sandbox as a learner's tools see it: the AWS CLI, accounts by key, IAM enforced for users."""

import os
import subprocess

import boto3
import pytest
from botocore.exceptions import ClientError

from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.sandbox.control import free_port
from conftest import ROOT, run_invoke, sandbox_env


def shell(settings, script: str) -> subprocess.CompletedProcess:
    """bash with the learner's `eval "$(invoke sandbox.env ...)"`, then the script."""
    env = {k: v for k, v in sandbox_env(settings).items() if k.startswith("BOOTCAMP_")}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOOTCAMP_"))}
    return subprocess.run(["bash", "-ec", script], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_the_aws_cli_works_through_sandbox_env(lab1):
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


def test_sandbox_env_as_a_lab_user_is_held_to_its_policies(lab1):
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
    assert "every account in it is empty" in run_invoke("sandbox.reset", env=env).stdout
    assert iam.list_users()["Users"] == []
    assert "sandbox stopped" in run_invoke("sandbox.down", env=env).stdout
    assert "sandbox is down" in run_invoke("sandbox.status", env=env).stdout
