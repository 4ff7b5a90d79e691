"""The LocalStack target against the real LocalStack runtime (../shared/tools/localstack-host.sh start).

Skipped, with the reason, when nothing answers on LOCALSTACK_HOST (default 127.0.0.1:4566).
"""

import json
import os
import time
import urllib.request

import pytest

from bootcamp.errors import TargetUnavailable
from bootcamp.settings import Settings
from bootcamp.targets import LocalStackTarget
from conftest import LabDriver, run_invoke

HOST = os.environ.get("LOCALSTACK_HOST", "127.0.0.1:4566")


def localstack_up() -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}/_localstack/health", timeout=2) as r:
            return "services" in json.loads(r.read())
    except OSError:
        return False


pytestmark = [
    pytest.mark.localstack,
    pytest.mark.skipif(not localstack_up(), reason=f"LocalStack is not running on {HOST} "
                       "(start it with ../shared/tools/localstack-host.sh start)"),
]


@pytest.fixture
def localstack(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALSTACK_HOST", HOST)
    return Settings.from_env(env={}, target="localstack", home=tmp_path, owner="tester")


def cleaned(lab_id: str, settings: Settings):
    """A lab in LocalStack's one account, cleaned before and after."""
    lab = LabDriver(lab_id, settings)
    lab.run("clean")
    yield lab
    lab.run("clean")


@pytest.fixture
def lab1_localstack(localstack):
    yield from cleaned("1", localstack)


@pytest.fixture
def lab2_localstack(localstack):
    yield from cleaned("2", localstack)


def test_lab2_runs_start_to_clean(lab2_localstack):
    lab = lab2_localstack
    lab.run("start")
    assert lab.failing() == {"2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"}
    lab.run("solve")
    result = lab.grade()
    assert result.passed, [(s.id, s.message) for s in result.steps]
    assert "the localstack target runs no real instances" in result.steps[-1].notes[0]
    ec2 = lab.client("ec2")
    sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["Web Security Group"]}])
    ec2.revoke_security_group_ingress(GroupId=sg["SecurityGroups"][0]["GroupId"], IpProtocol="tcp",
                                      FromPort=80, ToPort=80, CidrIp="0.0.0.0/0")
    assert lab.failing() == {"2.5"}
    ctx = lab.run("clean")
    assert lab.lab.provision.leftovers(ctx) == []


def test_lab1_runs_start_to_clean(lab1_localstack):
    lab = lab1_localstack
    lab.run("start")
    assert lab.failing() == {"1.1", "1.2", "1.3", "1.4"}
    lab.run("solve")
    result = lab.grade()
    assert result.passed, [(s.id, s.message) for s in result.steps]
    ctx = lab.run("clean")
    assert lab.lab.provision.leftovers(ctx) == []


def test_permissions_are_judged_from_the_policies_there(lab1_localstack):
    """LocalStack's free edition does not enforce IAM: the documents themselves are evaluated."""
    lab = lab1_localstack
    lab.run("start")
    lab.run("solve")
    lab.client("iam").put_group_policy(
        GroupName="EC2-Admin", PolicyName="EC2-Admin-Policy", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}]}))
    result = {s.id: s for s in lab.grade().steps}
    assert [i for i, s in result.items() if s.status != "PASS"] == ["1.4"]
    assert "user-3 is denied ec2:StopInstances" in result["1.4"].message


@pytest.mark.parametrize("service, named", [("elbv2", "Elastic Load Balancing v2"),
                                            ("autoscaling", "EC2 Auto Scaling")])
def test_services_missing_from_the_free_edition_are_refused_in_one_line(localstack, service, named):
    with pytest.raises(TargetUnavailable) as refused:
        LocalStackTarget(localstack).check_ready(["ec2", service])
    line = str(refused.value)
    assert service in line and named in line and "--target embedded" in line and "\n" not in line


def test_dynamodb_that_cannot_start_offline_is_refused_quickly(localstack):
    started = time.monotonic()
    try:
        LocalStackTarget(localstack).check_ready(["dynamodb"])
    except TargetUnavailable as refused:
        assert "DynamoDB" in str(refused) and "--target embedded" in str(refused)
    print(f"dynamodb readiness answered in {time.monotonic() - started:.1f} s")


@pytest.mark.parametrize("command", [("lab.start", "3"), ("lab.grade", "3"), ("app.run",)])
def test_lab3_without_dynamodb_there_is_refused_in_one_line(localstack, command):
    """Offline, LocalStack's DynamoDB fails to download DynamoDB Local: say so, before anything is made."""
    try:
        LocalStackTarget(localstack).check_ready(["dynamodb"])
        pytest.skip("DynamoDB works in this LocalStack (it could download DynamoDB Local)")
    except TargetUnavailable:
        pass
    out = run_invoke(*command, "--target", "localstack", env={"BOOTCAMP_HOME": str(localstack.home),
                                                              "LOCALSTACK_HOST": HOST}, timeout=120)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert "dynamodb" in line and "--target embedded" in line and "--target aws" in line
    assert not (localstack.home / "lab3").exists(), "nothing is prepared for a lab the target cannot run"


def test_a_service_is_asked_whether_it_answers_not_only_listed(localstack):
    target = LocalStackTarget(localstack)
    target.check_answers("sns")
    with pytest.raises(TargetUnavailable, match="license plan"):
        target.check_answers("elbv2")
