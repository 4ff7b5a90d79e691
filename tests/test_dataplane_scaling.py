"""Auto Scaling in the sandbox's data plane, over HTTP with boto3: a group's instances spread over
its subnets' AZs, launch with the template's profile, metadata options and user data, are
registered with its target groups, and are replaced (terminated, stopped, impaired) where they
were lost; the activities say what happened; a restarted sandbox brings the group's apps back."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import urllib.error
import urllib.request

import pytest
from conftest import LabDriver

from bootcamp import userdata
from bootcamp.provision import AL2023_PARAMETER
from bootcamp.sandbox import control
from bootcamp.sandbox.dataplane import placement, scaling
from bootcamp.settings import Settings
from bootcamp.targets import make_target
from test_dataplane import until  # every wait below is bounded (20 s)
from test_lab4 import GROUP, encoded, originals, target_group_arn

PROFILE_ROLE = "EmployeeDirectoryAppRole"


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
    # Every target listed is registered but a draining one; "unused" (no listener uses the group: the
    # health loop's answer once it has seen the target) is registered too.
    return {t["Target"]["Id"] for t in health if t["TargetHealth"]["State"] != "draining"}


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
    """The apps these instances run (none yet while the loop is busy starting apps: asked again)."""
    try:
        apps = control.running_apps(settings, settings.sandbox_account)
    except OSError:  # a timeout: the loop holds its lock while it starts a launcher under load
        return {}
    return {a["instance"]: a for a in apps if a["instance"] in ids}


# --- the decisions, on their own -------------------------------------------------------------

def test_a_new_instance_goes_to_the_az_with_fewest_and_a_scale_in_takes_from_the_az_with_most():
    subnets = [("s-a", "a"), ("s-b", "b"), ("s-c", "c")]
    assert placement.next_subnet(subnets, []) == ("s-a", "a")
    assert placement.next_subnet(subnets, [("s-a", "a"), ("s-c", "c")]) == ("s-b", "b")
    assert placement.next_subnet([("s-a1", "a"), ("s-a2", "a")], [("s-a1", "a")]) == ("s-a2", "a")
    # (id, AZ, launched, from the current version): the fullest AZ first, an old version, then the oldest
    members = [("i-1", "a", 1.0, True), ("i-2", "a", 2.0, False), ("i-3", "b", 0.5, True), ("i-4", "a", 3.0, True)]
    assert placement.scale_in_order(members)[:2] == ["i-2", "i-1"]


def test_only_a_member_in_service_is_judged_and_elb_health_counts_only_after_the_grace_period():
    def member(**given):
        return adapter_member(**{"lifecycle": "InService", "health": "Healthy", "state": "running", **given})

    elb = group_view(health_check_type="ELB")
    assert scaling.verdict(elb, member(), False, None, ["unhealthy"]) is None
    assert scaling.verdict(elb, member(), True, None, ["unhealthy"]) == "elb"
    assert scaling.verdict(group_view(), member(), True, None, ["unhealthy"]) is None
    assert scaling.verdict(elb, member(state="stopped"), False, None, []) == "state"
    assert scaling.verdict(elb, member(health="Unhealthy"), False, None, []) == "user"
    assert scaling.verdict(elb, member(lifecycle="Standby", state="stopped"), True, None, []) is None
    assert scaling.verdict(elb, member(), True, scaling.IMPAIRED_SECONDS - 1, []) is None
    assert scaling.verdict(elb, member(), True, scaling.IMPAIRED_SECONDS, []) == "status"
    assert [scaling.retry_after(n) for n in (1, 2, 3, 9)] == [10, 20, 40, scaling.RETRY_MOST]


def adapter_member(**given):
    from bootcamp.sandbox.dataplane.adapter import Member

    return Member(**{"id": "i-1", "az": "a", "subnet_id": "s-a", "protected": False, "launched": 0.0, **given})


def group_view(**given):
    from bootcamp.sandbox.dataplane.adapter import Group

    return Group(**{"account": "1", "region": "r", "name": "g", "desired": 1, "health_check_type": "EC2",
                    "grace": 300, "target_groups": (), "suspended": frozenset(), "members": (), **given})


# --- a small group of its own (no app: cheap) ----------------------------------------------------

def two_zones(client, cidr: str = "10.8") -> list[str]:
    """A VPC with one subnet in each of two AZs; the subnets' ids."""
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
    region = ec2.meta.region_name
    return [ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.{n}.0/24", AvailabilityZone=f"{region}{zone}")
            ["Subnet"]["SubnetId"] for n, zone in ((1, "a"), (2, "b"))]


def image(client) -> str:
    """Amazon Linux 2023's AMI, as a learner finds it (listing every public AMI costs seconds)."""
    return client("ssm").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]


def small_group(client, subnets: list[str], desired: int, name: str = "small", grace: int = 300,
                group: dict | None = None, **data) -> str:
    ec2 = client("ec2")
    ec2.create_launch_template(LaunchTemplateName=f"{name}-template",
                               LaunchTemplateData={"ImageId": image(client), "InstanceType": "t3.micro", **data})
    client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": f"{name}-template", "Version": "$Latest"},
        MinSize=0, MaxSize=6, DesiredCapacity=desired, VPCZoneIdentifier=",".join(subnets),
        HealthCheckGracePeriod=grace, **(group or {}))
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
    launches = [a["Cause"] for a in activities(client, name) if a["Description"].startswith("Launching")]
    assert len(launches) == 3 and all(c.endswith("increasing the capacity from 0 to 3.") for c in launches), launches
    scaling_ = client("autoscaling")
    scaling_.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    kept = in_service(client, name)
    assert sorted(kept.values()) == [f"{target.region}a", f"{target.region}b"]
    [gone] = set(first) - set(kept)
    assert first[gone] == f"{target.region}a"
    assert ec2_instances(client, [gone])[gone]["State"]["Name"] in ("shutting-down", "terminated")
    cause = {a["Description"]: a["Cause"] for a in activities(client, name)}[f"Terminating EC2 instance: {gone}"]
    assert "a user request explicitly set group desired capacity changing the desired capacity from 3 to 2." in cause
    assert "shrinking the capacity from 3 to 2" in cause and f"instance {gone} was selected for termination" in cause
    scaling_.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=4)
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


def test_a_launch_configuration_gives_its_profile_and_metadata_options_too(target):
    client, iam = target.client, target.client("iam")
    iam.create_instance_profile(InstanceProfileName="ConfigProfile")
    scaling_ = client("autoscaling")
    scaling_.create_launch_configuration(
        LaunchConfigurationName="config", ImageId=image(client), InstanceType="t3.micro",
        IamInstanceProfile="ConfigProfile",
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"})
    scaling_.create_auto_scaling_group(AutoScalingGroupName="configured", LaunchConfigurationName="config",
                                       MinSize=0, MaxSize=2, DesiredCapacity=2,
                                       VPCZoneIdentifier=",".join(two_zones(client, "10.14")))
    members = in_service(client, "configured")
    assert len(set(members.values())) == 2
    for instance in ec2_instances(client, members).values():
        assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/ConfigProfile")
        assert instance["MetadataOptions"]["HttpTokens"] == "required"


def test_terminate_in_the_group_and_detach_leave_the_target_group_and_say_so(target):
    client = target.client
    subnets = two_zones(client, "10.15")
    vpc = client("ec2").describe_subnets(SubnetIds=subnets)["Subnets"][0]["VpcId"]
    tg_arn = client("elbv2").create_target_group(Name="small-targets", Protocol="HTTP", Port=80, VpcId=vpc,
                                                 TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    name = small_group(client, subnets, desired=3)
    scaling_ = client("autoscaling")
    scaling_.attach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=[tg_arn])
    members = in_service(client, name)
    assert registered(client, tg_arn) == set(members)
    ended, detached, _ = members
    answer = scaling_.terminate_instance_in_auto_scaling_group(InstanceId=ended, ShouldDecrementDesiredCapacity=True)
    scaling_.detach_instances(AutoScalingGroupName=name, InstanceIds=[detached], ShouldDecrementDesiredCapacity=True)
    assert group_of(client, name)["DesiredCapacity"] == 1 and len(in_service(client, name)) == 1
    assert registered(client, tg_arn) == set(in_service(client, name))
    said = {a["Description"]: a for a in activities(client, name)}
    terminated = said[f"Terminating EC2 instance: {ended}"]
    assert terminated["ActivityId"] == answer["Activity"]["ActivityId"]
    assert terminated["Cause"].endswith(f"instance {ended} was taken out of service in response to a user request, "
                                        "shrinking the capacity from 3 to 2.")
    assert said[f"Detaching EC2 instance: {detached}"]["Cause"].endswith(
        f"instance {detached} was detached in response to a user request, shrinking the capacity from 2 to 1.")
    assert ec2_instances(client, [detached])[detached]["State"]["Name"] == "running"


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


def app_group(settings: Settings, name: str, subnets: list[str], grace: int = 300,
              group: dict | None = None) -> tuple[str, dict[str, str]]:
    """A group of two instances running the project's app (user data from the template)."""
    target = make_target(settings)
    name = small_group(target.client, subnets, desired=2, name=name, grace=grace, group=group,
                       UserData=encoded(userdata.render(target.region)))
    members = in_service(target.client, name)
    until(lambda: len(apps_of(settings, members)) == 2, "the group's apps run")
    return name, members


def test_a_restarted_sandbox_brings_the_groups_apps_back(fast):
    settings, env = fast
    client = make_target(settings).client
    name, members = app_group(settings, "lasting", two_zones(client, "10.12"))
    before = apps_of(settings, members)
    told = activities(client, name)
    control.flush(settings)
    control.down(settings)
    control.up(settings, env=env)
    assert in_service(client, name) == members and activities(client, name) == told
    again = until(lambda: len(apps_of(settings, members)) == 2 and apps_of(settings, members),
                  "the apps run again after the restart")
    assert {i: a["pid"] for i, a in again.items()} != {i: a["pid"] for i, a in before.items()}
    client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)  # room for apps


def test_an_instance_whose_app_stays_down_past_the_grace_period_is_replaced(fast):
    settings, _ = fast
    client = make_target(settings).client
    name, members = app_group(settings, "crashing", two_zones(client, "10.13"), grace=30)  # 0.3 s here
    sick, zone = next(iter(members.items()))
    os.kill(apps_of(settings, members)[sick]["pid"], signal.SIGKILL)
    now = until(lambda: sick not in in_service(client, name) and len(in_service(client, name)) == 2
                and in_service(client, name), "the impaired instance is replaced")
    [new] = set(now) - set(members)
    assert now[new] == zone
    cause = {a["Description"]: a["Cause"] for a in activities(client, name)}[f"Terminating EC2 instance: {sick}"]
    assert cause.endswith("in response to an EC2 instance status check failure.")
    client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)


def test_with_elb_health_checks_an_instance_its_target_group_finds_unhealthy_is_replaced(fast):
    settings, _ = fast
    client = make_target(settings).client
    ec2, elbv2 = client("ec2"), client("elbv2")
    subnets = two_zones(client, "10.16")
    vpc = ec2.describe_subnets(SubnetIds=subnets)["Subnets"][0]["VpcId"]
    tg_arn = elbv2.create_target_group(Name="failing-path", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
                                       HealthCheckPath="/no-such-page")["TargetGroups"][0]["TargetGroupArn"]
    # A listener uses the target group: only then are its targets checked (else they are unused).
    lb = elbv2.create_load_balancer(Name="checked-lb", Subnets=subnets, Scheme="internal")["LoadBalancers"][0]
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
    name, members = app_group(settings, "checked", subnets, grace=30,
                              group={"HealthCheckType": "ELB", "TargetGroupARNs": [tg_arn]})
    until(lambda: set(members) - set(in_service(client, name)), "an unhealthy instance is replaced")
    causes = [a["Cause"] for a in activities(client, name) if a["Description"].startswith("Terminating")]
    assert any(c.endswith("in response to an ELB system health check failure.") for c in causes), causes
    client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
