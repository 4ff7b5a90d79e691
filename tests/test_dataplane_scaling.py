"""Auto Scaling in the sandbox's data plane, over HTTP with boto3: a group's instances spread over
its subnets' AZs, launch with the template's profile, metadata options and user data, are
registered with its target groups, and are replaced (terminated, stopped, impaired) where they
were lost; the activities say what happened; a restarted sandbox brings the group's apps back."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import time
import urllib.error
import urllib.request

import pytest
from conftest import LabDriver

from bootcamp import userdata
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.targets import make_target
from test_lab4 import GROUP, TEMPLATE, encoded, originals, target_group_arn

WAIT = 20.0  # seconds: every wait below is bounded by it
PROFILE_ROLE = "EmployeeDirectoryAppRole"


def until(check, what: str, wait: float = WAIT):
    deadline = time.monotonic() + wait
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {wait:g} s: {what}")
        time.sleep(0.1)


# --- what a learner's tools see ---------------------------------------------------------------

def group_of(client, name: str = GROUP) -> dict:
    return client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def in_service(client, name: str = GROUP) -> dict[str, str]:
    """{instance id: AZ} of the group's InService instances."""
    return {i["InstanceId"]: i["AvailabilityZone"] for i in group_of(client, name)["Instances"]
            if i["LifecycleState"] == "InService"}


def ec2_instances(client, ids) -> dict[str, dict]:
    found = client("ec2").describe_instances(InstanceIds=list(ids))["Reservations"]
    return {i["InstanceId"]: i for r in found for i in r["Instances"]}


def activities(client, name: str = GROUP) -> list[dict]:
    return client("autoscaling").describe_scaling_activities(AutoScalingGroupName=name)["Activities"]


def registered(client, tg_arn: str) -> set[str]:
    health = client("elbv2").describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    return {t["Target"]["Id"] for t in health if t["TargetHealth"]["State"] not in ("draining", "unused")}


def assert_placed_where_ec2_says(client, members: dict[str, str]) -> None:
    """Subnet, AZ, private IP and network interface agree in DescribeInstances and Auto Scaling."""
    ec2 = client("ec2")
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets()["Subnets"]}
    for instance_id, instance in ec2_instances(client, members).items():
        subnet = subnets[instance["SubnetId"]]
        assert instance["Placement"]["AvailabilityZone"] == subnet["AvailabilityZone"] == members[instance_id]
        assert ipaddress.ip_address(instance["PrivateIpAddress"]) in ipaddress.ip_network(subnet["CidrBlock"])
        [nic] = instance["NetworkInterfaces"]
        assert (nic["SubnetId"], nic["PrivateIpAddress"]) == (instance["SubnetId"], instance["PrivateIpAddress"])


def imds(settings, instance_id: str, path: str) -> tuple[int, str]:
    url = f"{control.endpoint(settings)}/_bootcamp/imds/{instance_id}/{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def apps_of(settings: Settings, ids) -> dict[str, dict]:
    return {a["instance"]: a for a in control.running_apps(settings, settings.sandbox_account) if a["instance"] in ids}


# --- a small group of its own (no app: cheap) ----------------------------------------------------

def two_zones(client, cidr: str = "10.8") -> list[str]:
    """A VPC with one subnet in each of two AZs; the subnets' ids."""
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
    region = ec2.meta.region_name
    return [ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.{n}.0/24", AvailabilityZone=f"{region}{zone}")
            ["Subnet"]["SubnetId"] for n, zone in ((1, "a"), (2, "b"))]


def small_group(client, subnets: list[str], desired: int, name: str = "small", grace: int = 300, **data) -> str:
    ec2 = client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName=f"{name}-template",
                               LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro", **data})
    client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": f"{name}-template", "Version": "$Latest"},
        MinSize=0, MaxSize=6, DesiredCapacity=desired, VPCZoneIdentifier=",".join(subnets),
        HealthCheckGracePeriod=grace)
    return name


# --- lab 4 solved -------------------------------------------------------------------------------

@pytest.fixture
def solved(lab4: LabDriver) -> LabDriver:
    lab4.run("start")
    lab4.run("solve")
    return lab4


def test_solved_lab_4_runs_its_group_in_two_azs_and_a_terminated_instance_is_replaced_where_it_was(solved):
    client, settings = solved.client, solved.settings
    members = in_service(client)
    assert len(members) == 2 and len(set(members.values())) == 2, members
    assert_placed_where_ec2_says(client, members)
    [original] = originals(solved)
    assert original["State"]["Name"] in ("shutting-down", "terminated") and original["InstanceId"] not in members
    tg_arn = target_group_arn(solved)
    assert registered(client, tg_arn) == set(members)
    # The template's instance profile and metadata options are the instances', and the apps get the role's keys.
    for instance_id, instance in ec2_instances(client, members).items():
        assert instance["IamInstanceProfile"]["Arn"].endswith(f":instance-profile/{PROFILE_ROLE}")
        assert instance["MetadataOptions"]["HttpTokens"] == "optional"
        assert imds(settings, instance_id, "latest/meta-data/iam/security-credentials/") == (200, PROFILE_ROLE)
    apps = until(lambda: len(apps_of(settings, members)) == 2 and apps_of(settings, members), "both apps run")
    for instance_id, app in apps.items():
        with urllib.request.urlopen(f"http://127.0.0.1:{app['port']}/api/settings", timeout=10) as answer:
            assert json.loads(answer.read())["instance"]["availability_zone"] == members[instance_id]

    lost, zone = next(iter(members.items()))
    client("ec2").terminate_instances(InstanceIds=[lost])
    now = until(lambda: len(in_service(client)) == 2 and lost not in in_service(client) and in_service(client),
                "the group is back at its desired capacity")
    [new] = set(now) - set(members)
    assert now[new] == zone, "the replacement goes to the AZ that lost an instance"
    assert_placed_where_ec2_says(client, now)
    until(lambda: registered(client, tg_arn) == set(now), "the replacement is registered, the lost one is not")
    assert group_of(client)["DesiredCapacity"] == 2
    assert original["InstanceId"] not in in_service(client), "the learner's original instance is never adopted"
    said = {a["Description"]: a for a in activities(client)}
    assert "an EC2 health check indicating it has been terminated or stopped" in \
        said[f"Terminating EC2 instance: {lost}"]["Cause"]
    launched = said[f"Launching a new EC2 instance: {new}"]
    assert "in response to a difference between desired and actual capacity, increasing the capacity from 1 to 2" \
        in launched["Cause"]
    assert json.loads(launched["Details"])["Availability Zone"] == zone and launched["StatusCode"] == "Successful"
    assert any(a["Cause"].startswith("At ") and "a user request created an AutoScalingGroup changing the desired "
               "capacity from 0 to 2." in a["Cause"] for a in said.values())


# --- placement, scale-in, health, launch -------------------------------------------------------

def test_scale_out_balances_the_azs_and_scale_in_takes_from_the_az_with_most(target):
    client = target.client
    name = small_group(client, two_zones(client), desired=3)
    first = in_service(client, name)
    assert sorted(first.values()) == sorted([f"{target.region}a", f"{target.region}a", f"{target.region}b"])
    assert_placed_where_ec2_says(client, first)
    scaling = client("autoscaling")
    scaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    kept = in_service(client, name)
    assert sorted(kept.values()) == [f"{target.region}a", f"{target.region}b"]
    [gone] = set(first) - set(kept)
    assert first[gone] == f"{target.region}a"
    assert ec2_instances(client, [gone])[gone]["State"]["Name"] in ("shutting-down", "terminated")
    cause = {a["Description"]: a["Cause"] for a in activities(client, name)}[f"Terminating EC2 instance: {gone}"]
    assert "a user request explicitly set group desired capacity changing the desired capacity from 3 to 2." in cause
    assert "shrinking the capacity from 3 to 2" in cause and f"instance {gone} was selected for termination" in cause
    scaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=4)
    assert sorted(in_service(client, name).values()) == [f"{target.region}a"] * 2 + [f"{target.region}b"] * 2


def test_a_stopped_instance_and_one_the_learner_calls_unhealthy_are_replaced(target):
    client = target.client
    name = small_group(client, two_zones(client, "10.9"), desired=2)
    members = in_service(client, name)
    stopped, sick = members
    client("ec2").stop_instances(InstanceIds=[stopped])
    client("autoscaling").set_instance_health(InstanceId=sick, HealthStatus="Unhealthy")
    now = until(lambda: len(in_service(client, name)) == 2 and not {stopped, sick} & set(in_service(client, name))
                and in_service(client, name), "both are replaced")
    assert sorted(now.values()) == sorted(members.values())
    states = {i: x["State"]["Name"] for i, x in ec2_instances(client, [stopped, sick]).items()}
    assert set(states.values()) <= {"shutting-down", "terminated"}, states
    cause = {a["Description"]: a["Cause"] for a in activities(client, name)}
    assert cause[f"Terminating EC2 instance: {stopped}"].endswith(
        "in response to an EC2 health check indicating it has been terminated or stopped.")
    assert cause[f"Terminating EC2 instance: {sick}"].endswith("in response to a user health-check.")


def test_the_launch_template_version_gives_the_profile_metadata_options_and_security_groups(target):
    client, iam, ec2 = target.client, target.client("iam"), target.client("ec2")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "ec2.amazonaws.com"}}]}
    iam.create_role(RoleName="GroupRole", AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName="GroupProfile")
    iam.add_role_to_instance_profile(InstanceProfileName="GroupProfile", RoleName="GroupRole")
    subnets = two_zones(client, "10.10")
    vpc = ec2.describe_subnets(SubnetIds=subnets)["Subnets"][0]["VpcId"]
    sg = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    name = small_group(client, subnets, desired=0, name="versions")
    ec2.create_launch_template_version(  # version 2, which the group's $Latest names
        LaunchTemplateName="versions-template", SourceVersion="1", LaunchTemplateData={
            "IamInstanceProfile": {"Name": "GroupProfile"}, "SecurityGroupIds": [sg],
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "UserData": encoded("#!/bin/bash\necho version 2\n")})
    client("autoscaling").set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    [(instance_id, instance)] = ec2_instances(client, in_service(client, name)).items()
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/GroupProfile")
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [sg]
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["aws:ec2launchtemplate:version"] == "2" and tags["aws:autoscaling:groupName"] == name
    data = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
    assert data == encoded("#!/bin/bash\necho version 2\n")


def test_a_launch_without_its_instance_profile_fails_and_the_activity_says_why(target):
    client = target.client
    name = small_group(client, two_zones(client, "10.11"), desired=1, name="broken",
                       IamInstanceProfile={"Name": "NoSuchProfile"})
    assert in_service(client, name) == {}
    [failed] = [a for a in activities(client, name) if a["StatusCode"] == "Failed"][-1:]
    assert failed["Description"].startswith("Launching a new EC2 instance.  Status Reason: ")
    assert "NoSuchProfile" in failed["StatusMessage"] and "Launching EC2 instance failed." in failed["StatusMessage"]


# --- a sandbox of its own: fast clock, state on ------------------------------------------------

@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """A sandbox whose clock runs 100 times faster and which keeps its state (its tests restart it)."""
    settings = Settings.from_env(env={}, home=tmp_path_factory.mktemp("scaling-home"),
                                 sandbox_port=control.free_port(), sandbox_account="661100220033", owner="tester")
    env = {"BOOTCAMP_SANDBOX_SPEED": "100", "BOOTCAMP_SANDBOX_DROP_SECONDS": "0.3"}
    control.up(settings, env=env)
    yield settings, env
    control.down(settings)


def app_group(settings: Settings, name: str, cidr: str, grace: int = 300) -> tuple[str, dict[str, str]]:
    """A group of two instances running the project's app (user data from the template)."""
    target = make_target(settings)
    name = small_group(target.client, two_zones(target.client, cidr), desired=2, name=name, grace=grace,
                       UserData=encoded(userdata.render(target.region)))
    members = in_service(target.client, name)
    until(lambda: len(apps_of(settings, members)) == 2, "the group's apps run")
    return name, members


def test_a_restarted_sandbox_brings_the_groups_apps_back(fast):
    settings, env = fast
    client = make_target(settings).client
    name, members = app_group(settings, "lasting", "10.12")
    before = apps_of(settings, members)
    control.flush(settings)
    control.down(settings)
    control.up(settings, env=env)
    assert in_service(client, name) == members
    again = until(lambda: len(apps_of(settings, members)) == 2 and apps_of(settings, members),
                  "the apps run again after the restart")
    assert {i: a["pid"] for i, a in again.items()} != {i: a["pid"] for i, a in before.items()}
    client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)  # room for apps


def test_an_instance_whose_app_stays_down_past_the_grace_period_is_replaced(fast):
    settings, _ = fast
    client = make_target(settings).client
    name, members = app_group(settings, "crashing", "10.13", grace=30)  # 0.3 s here
    sick, zone = next(iter(members.items()))
    os.kill(apps_of(settings, members)[sick]["pid"], signal.SIGKILL)
    now = until(lambda: sick not in in_service(client, name) and len(in_service(client, name)) == 2
                and in_service(client, name), "the impaired instance is replaced")
    [new] = set(now) - set(members)
    assert now[new] == zone
    cause = {a["Description"]: a["Cause"] for a in activities(client, name)}[f"Terminating EC2 instance: {sick}"]
    assert cause.endswith("in response to an EC2 instance status check failure.")
    client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
