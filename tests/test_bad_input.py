"""Bad input and a broken environment: one clear line, a non-zero exit, no traceback, nothing lost."""

import os
import signal
import socket

import pytest

from bootcamp import grading
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.targets import AwsTarget, EmbeddedTarget, make_target
from bootcamp.errors import BootcampError, Declined
from bootcamp.sandbox.control import free_port
from conftest import run_invoke, sandbox_env

def one_line_error(result, *fragments: str) -> str:
    assert result.returncode not in (0, 1), result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def clear_faults(settings):
    yield
    control.inject_faults(settings, 0, account=settings.sandbox_account)


def test_unknown_lab(settings):
    line = one_line_error(run_invoke("lab.grade", "9", env=sandbox_env(settings)), "unknown lab '9'")
    assert "1 (Introduction to AWS IAM)" in line


def test_unknown_target(settings):
    one_line_error(run_invoke("lab.start", "1", "--target", "gcp", env=sandbox_env(settings)),
                   "unknown target 'gcp'", "embedded, localstack, aws")


def test_bad_port(settings):
    one_line_error(run_invoke("sandbox.up", "--port", "99999", env=sandbox_env(settings)), "not a TCP port")


def test_bad_app_port(settings):
    one_line_error(run_invoke("app.run", "--port", "http", env=sandbox_env(settings)), "app port 'http' is not a TCP port")
    one_line_error(run_invoke("app.run", env={**sandbox_env(settings), "BOOTCAMP_APP_PORT": "0"}),
                   "app port '0' is not a TCP port")


def test_grading_a_sandbox_that_is_down(settings):
    env = {**sandbox_env(settings), "BOOTCAMP_SANDBOX_PORT": str(free_port())}
    one_line_error(run_invoke("lab.grade", "1", env=env), "sandbox is down", "invoke sandbox.up")


def test_sandbox_port_in_use_by_another_program(settings, tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env = {**sandbox_env(settings), "BOOTCAMP_HOME": str(tmp_path)}
        one_line_error(run_invoke("sandbox.up", "--port", str(port), env=env),
                       f"port {port} is in use by another program")
        one_line_error(run_invoke("lab.start", "1", "--port", str(port), env=env), "in use by another program")


def test_a_sandbox_that_died_is_reported(tmp_path):
    settings = Settings.from_env(env={}, home=tmp_path, sandbox_port=free_port())
    running = control.up(settings)
    env = {"BOOTCAMP_HOME": str(tmp_path), "BOOTCAMP_SANDBOX_PORT": str(settings.sandbox_port)}
    assert "sandbox running" in run_invoke("sandbox.status", env=env).stdout
    os.kill(running.pid, signal.SIGKILL)
    os.waitpid(running.pid, 0)
    status = run_invoke("sandbox.status", env=env)
    assert status.returncode == 1 and "has stopped; everything in it is lost" in status.stdout
    one_line_error(run_invoke("lab.grade", "1", env=env), "has stopped", "lab.start")
    started = run_invoke("lab.start", "1", env=env)  # start says what happened and rebuilds
    assert started.returncode == 0 and "note: the sandbox" in started.stdout
    control.down(settings)


def test_localstack_not_running(settings):
    env = {**sandbox_env(settings), "LOCALSTACK_HOST": f"127.0.0.1:{free_port()}"}
    one_line_error(run_invoke("lab.start", "1", "--target", "localstack", env=env),
                   "LocalStack is not running", "--target embedded")


@pytest.mark.parametrize("task", ["lab.start", "lab.grade", "lab.verify"])
def test_lab4_on_localstack_is_refused_at_once_naming_what_it_lacks(tmp_path, task):
    """Known without asking LocalStack: so said at once, even when it is not running."""
    env = {"BOOTCAMP_HOME": str(tmp_path), "LOCALSTACK_HOST": f"127.0.0.1:{free_port()}"}
    line = one_line_error(run_invoke(task, "4", "--target", "localstack", env=env),
                          "elbv2 (Elastic Load Balancing v2)", "autoscaling (EC2 Auto Scaling)",
                          "--target embedded", "--target aws")
    assert "not running" not in line
    assert not any(tmp_path.iterdir()), "nothing is prepared for a lab the target cannot run"


def test_aws_without_credentials(tmp_path):
    env = {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "BOOTCAMP_HOME": str(tmp_path)}
    result = run_invoke("lab.start", "1", "--target", "aws", env=env)
    one_line_error(result, "no AWS credentials found", "AWS_PROFILE")


def test_aws_with_an_unknown_profile(tmp_path):
    env = {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "BOOTCAMP_HOME": str(tmp_path)}
    one_line_error(run_invoke("lab.grade", "1", "--target", "aws", "--profile", "nobody", env=env),
                   "nobody", "AWS_PROFILE")


def test_aws_refuses_while_pointed_at_an_emulator(settings):
    one_line_error(run_invoke("lab.start", "1", "--target", "aws", env=sandbox_env(settings)),
                   "AWS_ENDPOINT_URL is set")


def test_aws_refuses_instance_types_outside_the_free_tier():
    target = AwsTarget(Settings.from_env(env={}, target="aws"))
    target.check_instance_type("t3.micro")
    with pytest.raises(BootcampError, match="t3.large is outside the free tier"):
        target.check_instance_type("t3.large")


def aws_target(**settings) -> AwsTarget:
    target = AwsTarget(Settings.from_env(env={}, target="aws", region="eu-west-1", **settings))
    target.__dict__["account_id"] = "111122223333"  # what STS would answer; no call leaves this machine
    return target


def test_aws_asks_before_creating_and_yes_skips_the_question(capsys):
    with pytest.raises(Declined, match="account 111122223333, region eu-west-1.*--yes"):
        aws_target().confirm_changes("lab 1")  # stdin is not a terminal here: refuse, do not hang
    aws_target(assume_yes=True).confirm_changes("lab 1")
    assert "account 111122223333, region eu-west-1" in capsys.readouterr().out


def test_throttling_is_retried(lab1, clear_faults):
    lab1.run("start")
    lab1.target = make_target(lab1.settings.but(retry_backoff=0))  # botocore's back-off, without the waits
    control.inject_faults(lab1.settings, 2, account=lab1.settings.sandbox_account)
    assert lab1.failing() == {"1.1", "1.2", "1.3", "1.4"}


def test_throttling_that_lasts_gets_one_line_and_loses_nothing(settings, clear_faults):
    env = {**sandbox_env(settings), "BOOTCAMP_RETRY_BACKOFF": "0"}  # the retries, without the waits
    assert run_invoke("lab.start", "1", env=env).returncode == 0
    control.inject_faults(settings, 40, account=settings.sandbox_account)
    one_line_error(run_invoke("lab.grade", "1", env=env), "throttling", "after the standard retries",
                   "nothing was lost")
    control.inject_faults(settings, 0, account=settings.sandbox_account)
    assert run_invoke("lab.solve", "1", env=env).returncode == 0
    assert run_invoke("lab.grade", "1", env=env).returncode == 0


def test_expired_credentials(settings, clear_faults):
    env = sandbox_env(settings)
    assert run_invoke("lab.start", "1", env=env).returncode == 0
    control.inject_faults(settings, 40, "ExpiredToken", account=settings.sandbox_account)
    one_line_error(run_invoke("lab.grade", "1", env=env), "credentials have expired")


def test_a_bad_retry_back_off_is_one_line(settings):
    env = {**sandbox_env(settings), "BOOTCAMP_RETRY_BACKOFF": "soon"}
    one_line_error(run_invoke("lab.grade", "1", env=env), "retry back-off", "'soon'", "from 0 to 20")


def test_access_denied_for_the_grader_is_an_error_naming_the_permission(lab1):
    lab1.run("start")
    iam = lab1.client("iam")
    iam.create_user(UserName="grader")
    iam.attach_user_policy(UserName="grader", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess")
    key = iam.create_access_key(UserName="grader")["AccessKey"]
    as_grader = EmbeddedTarget(lab1.settings, credentials=(key["AccessKeyId"], key["SecretAccessKey"]))
    result, _ = grading.grade(lab1.lab, as_grader, lab1.settings.home)
    assert {s.status for s in result.steps} == {"ERROR"}
    assert "needs iam:GetAccountAuthorizationDetails" in result.steps[0].message
