"""The sandbox's data plane: instances run the app from their user data, have a metadata service,
and are reached from this machine through the edge only where AWS would let a request in.

Everything goes over HTTP: curl to the instance's public DNS name, boto3 to the sandbox's API.
"""

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from bootcamp import userdata
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.targets import make_target
from test_lab2 import ami, relaunch, ssh_instead_of_http, web_instance

WAIT = 20.0  # seconds: every wait below is bounded by it


def until(check, what: str, wait: float = WAIT, every: float = 0.1):
    """check()'s first true answer, polled every `every` seconds, bounded by `wait`."""
    deadline = time.monotonic() + wait
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {wait:g} s: {what}")
        time.sleep(every)


def curl(url: str, seconds: int = 15) -> subprocess.CompletedProcess:
    """curl as a learner types it (it sends *.localhost to 127.0.0.1 itself)."""
    return subprocess.run(["curl", "-sS", "-m", str(seconds), url], capture_output=True, text=True,
                          timeout=seconds + 5, env={**os.environ, "no_proxy": "*", "NO_PROXY": "*"})


def public_url(lab) -> str:
    instance = web_instance(lab)
    return f"http://{instance['PublicDnsName']}:{lab.settings.sandbox_port}"


def app_of(lab, instance_id: str) -> dict | None:
    return next((a for a in control.running_apps(lab.settings, lab.settings.sandbox_account)
                 if a["instance"] == instance_id), None)


def status_of(lab, instance_id: str) -> str:
    found = lab.client("ec2").describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"]
    return found[0]["InstanceStatus"]["Status"] if found else "none"


@pytest.fixture
def solved(lab2):
    lab2.run("start")
    lab2.run("solve")
    return lab2


def test_the_solved_labs_instance_serves_the_app_at_its_public_dns_name(solved):
    instance = web_instance(solved)
    assert instance["PublicDnsName"].endswith(f".{solved.target.region}.compute.localhost")
    page = curl(public_url(solved) + "/")
    assert page.returncode == 0, page.stderr
    assert "Employee Directory" in page.stdout
    settings = json.loads(curl(public_url(solved) + "/api/settings").stdout)
    # The app learnt its AZ and id from its own metadata service, with an IMDSv2 token, as on EC2.
    assert settings["instance"] == {"availability_zone": instance["Placement"]["AvailabilityZone"],
                                    "instance_id": instance["InstanceId"], "imds": "v2"}
    assert settings["region"] == solved.target.region


def test_a_security_group_without_http_leaves_curl_without_an_answer(solved):
    ssh_instead_of_http(solved)
    answer = curl(public_url(solved) + "/", seconds=10)
    assert answer.returncode != 0 and answer.stdout == ""


def test_stop_and_start_stop_and_start_the_app(solved):
    instance_id = web_instance(solved)["InstanceId"]
    first = until(lambda: app_of(solved, instance_id), "the app runs")
    url = public_url(solved)
    solved.client("ec2").stop_instances(InstanceIds=[instance_id])
    until(lambda: app_of(solved, instance_id) is None, "the app is stopped")
    with pytest.raises(OSError):
        os.kill(first["pid"], 0)  # the process is gone, not merely unreachable
    assert curl(url + "/", seconds=5).returncode != 0
    solved.client("ec2").start_instances(InstanceIds=[instance_id])
    page = curl(public_url(solved) + "/api/settings")  # a new public address after a start, as on AWS
    assert json.loads(page.stdout)["instance"]["instance_id"] == instance_id
    assert app_of(solved, instance_id)["pid"] != first["pid"]


def test_a_crashed_app_shows_impaired_and_is_restarted(solved):
    instance_id = web_instance(solved)["InstanceId"]
    first = until(lambda: app_of(solved, instance_id), "the app runs")
    assert status_of(solved, instance_id) == "ok"
    os.kill(first["pid"], signal.SIGKILL)
    until(lambda: status_of(solved, instance_id) == "impaired", "DescribeInstanceStatus says impaired")
    again = until(lambda: (app_of(solved, instance_id) or {}).get("pid") not in (None, first["pid"]) and
                  status_of(solved, instance_id) == "ok", "the app restarted")
    assert again


def test_the_app_runs_from_the_archive_in_the_user_data(solved):
    script = userdata.render(solved.target.region)
    found = userdata._ARCHIVE.search(script)
    files = userdata.inspect(script).files
    files["employee_directory/__init__.py"] = files["employee_directory/__init__.py"].replace(
        b'__version__ = "1.0.0"', b'__version__ = "1.0.0-from-user-data"')
    packed = base64.b64encode(userdata.archive(files)).decode()
    relaunch(solved, user_data=script.replace(found.group(1), packed))
    answer = json.loads(curl(public_url(solved) + "/api/settings").stdout)
    assert answer["version"] == "1.0.0-from-user-data"


def test_a_learners_own_script_is_never_run_and_the_console_output_says_why(settings, tmp_path, target):
    marker = tmp_path / f"ran-{uuid.uuid4().hex}"
    ec2 = target.client("ec2")
    made = ec2.run_instances(ImageId=ami(target_lab(target)), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             UserData=f"#!/bin/bash\ntouch {marker}\n")["Instances"][0]["InstanceId"]
    output = until(lambda: "not run" in console(ec2, made) and console(ec2, made), "the console output says why")
    assert "no other script is ever executed on this machine" in output
    assert not marker.exists()


def target_lab(target):
    class Lab:  # what tests.test_lab2.ami needs
        client = staticmethod(target.client)
    return Lab


def console(ec2, instance_id: str) -> str:
    return ec2.get_console_output(InstanceId=instance_id).get("Output", "")


def imds(settings, instance_id: str, path: str, method: str = "GET", headers=None):
    url = f"{control.endpoint(settings)}/_bootcamp/imds/{instance_id}/{path}"
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_the_metadata_service_honours_required_tokens_and_a_disabled_endpoint(settings, target):
    ec2 = target.client("ec2")
    made = ec2.run_instances(ImageId=ami(target_lab(target)), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             MetadataOptions={"HttpTokens": "required"})["Instances"][0]
    instance_id = made["InstanceId"]
    assert imds(settings, instance_id, "latest/meta-data/instance-id")[0] == 401
    status, token = imds(settings, instance_id, "latest/api/token", "PUT",
                         {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert status == 200
    given = {"X-aws-ec2-metadata-token": token}
    assert imds(settings, instance_id, "latest/meta-data/instance-id", headers=given) == (200, instance_id)
    assert imds(settings, instance_id, "latest/meta-data/placement/availability-zone", headers=given) == (
        200, made["Placement"]["AvailabilityZone"])
    ec2.modify_instance_metadata_options(InstanceId=instance_id, HttpEndpoint="disabled")
    assert imds(settings, instance_id, "latest/meta-data/instance-id", headers=given)[0] == 403


def test_the_metadata_service_hands_out_the_instance_profile_roles_keys(settings, target):
    iam, ec2 = target.client("iam"), target.client("ec2")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "ec2.amazonaws.com"}}]}
    iam.create_role(RoleName="AppRole", AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName="AppProfile")
    iam.add_role_to_instance_profile(InstanceProfileName="AppProfile", RoleName="AppRole")
    instance_id = ec2.run_instances(ImageId=ami(target_lab(target)), InstanceType="t3.micro", MinCount=1,
                                    MaxCount=1, IamInstanceProfile={"Name": "AppProfile"})["Instances"][0]["InstanceId"]
    assert imds(settings, instance_id, "latest/meta-data/iam/security-credentials/") == (200, "AppRole")
    status, body = imds(settings, instance_id, "latest/meta-data/iam/security-credentials/AppRole")
    keys = json.loads(body)
    assert status == 200 and keys["Code"] == "Success"
    sts = target.session().client("sts", endpoint_url=control.endpoint(settings), region_name=target.region,
                                  aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"],
                                  aws_session_token=keys["Token"])
    arn = sts.get_caller_identity()["Arn"]
    assert arn == f"arn:aws:sts::{settings.sandbox_account}:assumed-role/AppRole/{instance_id}"


@pytest.fixture(scope="module")
def small_sandbox(tmp_path_factory):
    """A sandbox of its own that runs at most one app."""
    settings = Settings.from_env(env={}, home=tmp_path_factory.mktemp("small-home"), sandbox_port=control.free_port(),
                                 sandbox_account="777788889999")
    before = os.environ.get("BOOTCAMP_SANDBOX_MAX_APPS")
    os.environ["BOOTCAMP_SANDBOX_MAX_APPS"] = "1"
    try:
        control.up(settings)
    finally:
        os.environ.pop("BOOTCAMP_SANDBOX_MAX_APPS")
        if before is not None:
            os.environ["BOOTCAMP_SANDBOX_MAX_APPS"] = before
    yield settings
    control.down(settings)


def test_beyond_the_cap_an_instance_runs_without_an_app_and_says_so(small_sandbox):
    target = make_target(small_sandbox)
    ec2 = target.client("ec2")

    def launch() -> str:
        return ec2.run_instances(ImageId=ami(target_lab(target)), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 UserData=userdata.render(target.region))["Instances"][0]["InstanceId"]

    first = launch()
    until(lambda: control.running_apps(small_sandbox), "the first app runs")
    second = launch()
    output = until(lambda: "not started" in console(ec2, second) and console(ec2, second), "the console says why")
    assert "BOOTCAMP_SANDBOX_MAX_APPS=1" in output
    assert status_of_in(ec2, second) == "impaired" and status_of_in(ec2, first) == "ok"
    assert [a["instance"] for a in control.running_apps(small_sandbox)] == [first]
    ec2.terminate_instances(InstanceIds=[first])  # a slot frees: the second starts
    until(lambda: [a["instance"] for a in control.running_apps(small_sandbox)] == [second], "the second app runs")


def status_of_in(ec2, instance_id: str) -> str:
    return ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"][0]["InstanceStatus"]["Status"]
