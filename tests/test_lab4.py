"""Lab 4 on the sandbox: start, the graders (every step passes solved; a realistic mistake fails
exactly its step; valid variants pass), a learner who builds it all by hand, clean, verify."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from botocore.exceptions import ClientError
from conftest import LabDriver, another_account, run_invoke, sandbox_env

from bootcamp import grading, userdata, webapp
from bootcamp.errors import BootcampError
from bootcamp.inventory import Inventory
from bootcamp.labmodel import get_lab
from bootcamp.provision import AL2023_PARAMETER
from bootcamp.results import FAIL, PASS
from labs.lab3 import provision as lab3_provision
from labs.lab4 import provision

LAB4 = [s.id for s in get_lab("4").steps]
TARGET_GROUP, LOAD_BALANCER, TEMPLATE = "lab-app-target-group", "Web-Application-ALB", "lab-app-launch-template"
GROUP, POLICY, TOPIC = "app-asg", "cpu-at-30-percent", "lab-app-sns-topic"
AL2_PARAMETER = "/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-x86_64-gp2"
NOTICES = ["autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_TERMINATE"]
GONE = ("shutting-down", "terminated")
HANGUL = re.compile("[가-힣]")
OTHER_BUCKET = "employee-photo-bucket-zz-0000"
PROFILE = "EmployeeDirectoryAppRole"
UNSEEN = ("The original instance Web Application is terminated (step 4.7), so whether it was registered "
          "in the target group could not be checked.")


@pytest.fixture
def solved(lab4):
    lab4.run("start")
    lab4.run("solve")
    return lab4


# --- what the learner's account holds, found as a learner finds it ---------------------------

def bucket_of(lab: LabDriver) -> str:
    return lab.context().state.load()["bucket"]


def subnet(lab: LabDriver, name: str) -> dict:
    return lab.client("ec2").describe_subnets(Filters=[{"Name": "tag:Name", "Values": [name]}])["Subnets"][0]


def security_group(lab: LabDriver, name: str) -> str:
    return lab.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"][0]["GroupId"]


def target_group_arn(lab: LabDriver, name: str = TARGET_GROUP) -> str:
    return lab.client("elbv2").describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]


def balancer(lab: LabDriver) -> dict:
    return lab.client("elbv2").describe_load_balancers(Names=[LOAD_BALANCER])["LoadBalancers"][0]


def listener_arn(lab: LabDriver) -> str:
    [listener] = lab.client("elbv2").describe_listeners(LoadBalancerArn=balancer(lab)["LoadBalancerArn"])["Listeners"]
    return listener["ListenerArn"]


def activities(lab: LabDriver) -> list[str]:
    """What app-asg did, newest first, and where its targets are (a failing test shows it)."""
    found = lab.client("autoscaling").describe_scaling_activities(AutoScalingGroupName=GROUP)["Activities"]
    zones = {i["InstanceId"]: i["Placement"]["AvailabilityZone"] for r in lab.client("ec2").describe_instances()[
        "Reservations"] for i in r["Instances"]}
    health = lab.client("elbv2").describe_target_health(TargetGroupArn=target_group_arn(lab))["TargetHealthDescriptions"]
    return ([f"{a['StatusCode']}: {a['Description']} ({a.get('Cause', '')})" for a in found]
            + [f"target {t['Target']['Id']} in {zones.get(t['Target']['Id'])}: {t['TargetHealth']['State']}" for t in health])


def topic_arn(lab: LabDriver, name: str = TOPIC) -> str:
    return f"arn:aws:sns:{lab.target.region}:{lab.settings.sandbox_account}:{name}"


def ami(lab: LabDriver, parameter: str = AL2023_PARAMETER) -> str:
    return lab.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]


def originals(lab: LabDriver) -> list[dict]:
    found = lab.client("ec2").describe_instances(Filters=[{"Name": "tag:Name", "Values": ["Web Application"]}])
    return [i for r in found["Reservations"] for i in r["Instances"]]


def alive(lab: LabDriver) -> list[str]:
    return [i["InstanceId"] for r in lab.client("ec2").describe_instances()["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] not in GONE]


def encoded(script: str) -> str:
    return base64.b64encode(script.encode()).decode()


def default_version(lab: LabDriver, data: dict, source: str | None = "1") -> None:
    """Modify template (Create new version) from version 1, then Set default version to it."""
    ec2 = lab.client("ec2")
    made = ec2.create_launch_template_version(
        LaunchTemplateName=TEMPLATE, LaunchTemplateData=data, **({"SourceVersion": source} if source else {}))
    number = str(made["LaunchTemplateVersion"]["VersionNumber"])
    ec2.modify_launch_template(LaunchTemplateName=TEMPLATE, DefaultVersion=number)


def version_data(lab: LabDriver, version: str) -> dict:
    return lab.client("ec2").describe_launch_template_versions(
        LaunchTemplateName=TEMPLATE, Versions=[version])["LaunchTemplateVersions"][0]["LaunchTemplateData"]


def cpu_policy(lab: LabDriver, name: str = POLICY, **settings) -> None:
    config = {"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
              "TargetValue": settings.pop("target", 30.0)}
    lab.client("autoscaling").put_scaling_policy(AutoScalingGroupName=GROUP, PolicyName=name,
                                                 PolicyType="TargetTrackingScaling",
                                                 TargetTrackingConfiguration=config, **settings)


# --- start, fresh, solved ---------------------------------------------------------------------

def test_start_builds_lab3s_end_state_and_every_step_fails_with_a_hint(lab4):
    lab4.run("start")
    ec2 = lab4.client("ec2")
    [original] = originals(lab4)
    assert original["State"]["Name"] == "running"
    assert original["IamInstanceProfile"]["Arn"].endswith(":instance-profile/EmployeeDirectoryAppRole")
    [lb_sg] = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["LoadBalancerSG"]}])["SecurityGroups"]
    assert lb_sg["VpcId"] == original["VpcId"]
    assert [(p["FromPort"], p["ToPort"], [r["CidrIp"] for r in p["IpRanges"]]) for p in lb_sg["IpPermissions"]] == \
        [(80, 80, ["0.0.0.0/0"])]
    path = provision.user_data_path(lab4.context())
    script = userdata.inspect(path.read_text())
    assert script.installs_app and script.bucket == bucket_of(lab4) and script.region == "us-west-2"
    assert f"the launch template's user data (step 4.3) is in {path}" in "\n".join(lab4.log)
    assert len(lab4.client("dynamodb").scan(TableName="Employees")["Items"]) == 3
    assert lab4.client("s3").list_objects_v2(Bucket=bucket_of(lab4))["KeyCount"] == 10

    steps = lab4.grade().steps
    assert [s.id for s in steps] == LAB4
    assert all(s.status == FAIL and s.hint for s in steps), [(s.id, s.status, s.message) for s in steps]
    by_id = {s.id: s for s in steps}
    assert by_id["4.1"].message == "No target group is named lab-app-target-group: create it."
    assert by_id["4.2"].message.startswith("No load balancer is named Web-Application-ALB")
    assert by_id["4.3"].message.startswith("No launch template is named lab-app-launch-template")
    assert by_id["4.4"].message.startswith("No Auto Scaling group is named app-asg")
    assert "finish step 4.4 first" in by_id["4.5"].message and "finish step 4.4 first" in by_id["4.6"].message
    assert "finish step 4.1 first" in by_id["4.7"].message

    lab4.run("clean")  # after start alone
    assert provision.leftovers(lab4.context()) == [] and alive(lab4) == []


def test_solved_every_step_passes_in_both_languages_and_the_app_answers_through_the_load_balancer(solved):
    result, inventory = grading.grade(solved.lab, solved.target, solved.settings.home)
    assert [(s.id, s.status) for s in result.steps] == [(i, PASS) for i in LAB4], \
        ([(s.id, s.message) for s in result.steps if s.status != PASS], activities(solved))
    assert result.score == result.max_score == 16
    notes = {s.id: s.notes for s in result.steps}
    assert notes["4.2"] == [UNSEEN]
    assert not [i for i, n in notes.items() if n and i != "4.2"]  # 4.7 saw it all: no "could not see" note
    # 4.7 asked the load balancer's DNS name through the edge: healthy targets of app-asg in two AZs answered.
    answers = inventory["probe"]["answers"]
    assert {a["status"] for a in answers} == {200} and len({a["az"] for a in answers}) == 2
    group = {i["InstanceId"] for g in solved.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[GROUP])["AutoScalingGroups"] for i in g["Instances"]}
    assert {a["instance"] for a in answers} == group
    url = webapp.lab_app_url(solved.target, "4", 8080)  # what `invoke lab.open 4` opens
    assert url == f"http://{balancer(solved)['DNSName']}:{solved.settings.sandbox_port}/"
    assert ".elb.localhost:" in url
    korean = {s.id: s for s in grading.regrade(solved.lab, inventory, "ko").steps}
    assert all(s.status == PASS for s in korean.values())
    assert korean["4.4"].title.startswith("Auto Scaling 그룹 app-asg: 시작 템플릿, 두 퍼블릭 서브넷")
    assert "원래 인스턴스 Web Application이 종료되어" in korean["4.2"].notes[0]


# --- mistakes: each fails exactly its step ---------------------------------------------------

def modify_target_group(**changes):
    return lambda lab: lab.client("elbv2").modify_target_group(TargetGroupArn=target_group_arn(lab), **changes)


def balancer_in_a_private_subnet(lab):
    """AWS refuses an ALB in one subnet, and so does the sandbox when it is edited (its CreateLoadBalancer
    takes one, which AWS refuses): the closest mistake is Public Subnet 1 and a private subnet the
    learner made in the other zone."""
    ec2, first, second = lab.client("ec2"), subnet(lab, "Public Subnet 1"), subnet(lab, "Public Subnet 2")
    with pytest.raises(ClientError, match="More than 1 availability zone must be specified"):
        lab.client("elbv2").set_subnets(LoadBalancerArn=balancer(lab)["LoadBalancerArn"], Subnets=[first["SubnetId"]])
    private = ec2.create_subnet(
        VpcId=first["VpcId"], CidrBlock="10.0.2.0/24", AvailabilityZone=second["AvailabilityZone"],
        TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": "Private Subnet 2"}]}])
    lab.client("elbv2").set_subnets(LoadBalancerArn=balancer(lab)["LoadBalancerArn"],
                                    Subnets=[first["SubnetId"], private["Subnet"]["SubnetId"]])


def internal_balancer(lab):
    """Made again as Internal (the scheme cannot change), otherwise as the course asks."""
    elb = lab.client("elbv2")
    elb.delete_load_balancer(LoadBalancerArn=balancer(lab)["LoadBalancerArn"])
    made = elb.create_load_balancer(
        Name=LOAD_BALANCER, Type="application", Scheme="internal",
        Subnets=[subnet(lab, "Public Subnet 1")["SubnetId"], subnet(lab, "Public Subnet 2")["SubnetId"]],
        SecurityGroups=[security_group(lab, "LoadBalancerSG")])["LoadBalancers"][0]
    elb.create_listener(LoadBalancerArn=made["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group_arn(lab)}])


def balancer_with_the_web_group(lab):
    lab.client("elbv2").set_security_groups(LoadBalancerArn=balancer(lab)["LoadBalancerArn"],
                                            SecurityGroups=[security_group(lab, "Web Security Group")])


def listener_to_another_target_group(lab):
    elb = lab.client("elbv2")
    other = elb.create_target_group(Name="lab-app-tg", Protocol="HTTP", Port=80, TargetType="instance",
                                    VpcId=subnet(lab, "Public Subnet 1")["VpcId"])["TargetGroups"][0]
    elb.modify_listener(ListenerArn=listener_arn(lab),
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": other["TargetGroupArn"]}])


def template_without_the_profile(lab):
    """Version 2 made from scratch with version 1's settings but no instance profile."""
    data = version_data(lab, "1")
    del data["IamInstanceProfile"]
    default_version(lab, data, source=None)


def update_group(**changes):
    return lambda lab: lab.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=GROUP, **changes)


def group_in_one_subnet(lab):
    update_group(VPCZoneIdentifier=subnet(lab, "Public Subnet 1")["SubnetId"])(lab)


def policy_on_requests(lab):
    scaling = lab.client("autoscaling")
    scaling.delete_policy(AutoScalingGroupName=GROUP, PolicyName=POLICY)
    label = (balancer(lab)["LoadBalancerArn"].split(":loadbalancer/", 1)[1] + "/targetgroup/"
             + target_group_arn(lab).split(":targetgroup/", 1)[1])
    metric = {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}
    scaling.put_scaling_policy(
        AutoScalingGroupName=GROUP, PolicyName="requests-per-target", PolicyType="TargetTrackingScaling",
        EstimatedInstanceWarmup=300,
        TargetTrackingConfiguration={"TargetValue": 30.0, "PredefinedMetricSpecification": metric})


def no_notifications(lab):
    lab.client("autoscaling").delete_notification_configuration(AutoScalingGroupName=GROUP, TopicARN=topic_arn(lab))


def notifications_to_another_topic(lab):
    other = lab.client("sns").create_topic(Name="app-alerts")["TopicArn"]
    no_notifications(lab)
    lab.client("autoscaling").put_notification_configuration(AutoScalingGroupName=GROUP, TopicARN=other,
                                                             NotificationTypes=NOTICES)


def topic_deleted(lab):
    lab.client("sns").delete_topic(TopicArn=topic_arn(lab))


MISTAKES = {
    # mistake: (what the learner did wrong after an otherwise right solution, its step(s), what the message says).
    # Some also fail 4.7's live checks, on AWS and on the sandbox alike: an internal ALB does not answer, and a
    # listener to another target group leaves lab-app-target-group's targets unused (Web Security Group, like
    # LoadBalancerSG, lets HTTP in from anywhere, so an ALB in it still answers and reaches its targets).
    "health check path /health": (modify_target_group(HealthCheckPath="/health"), "4.1",
                                  "lab-app-target-group's health check path is /health, not /"),
    "ALB in Public Subnet 1 and a private subnet": (balancer_in_a_private_subnet, "4.2",
                                                    ("Private Subnet 2 (us-west-2b)",
                                                     "not in both public subnets of Lab VPC")),
    "internal ALB": (internal_balancer, ("4.2", "4.7"), ("Web-Application-ALB is internal",
                                                          "again as Internet-facing")),
    "ALB with Web Security Group, not LoadBalancerSG": (balancer_with_the_web_group, "4.2",
                                                        "uses Web Security Group, not security group LoadBalancerSG"),
    "listener forwarding to another target group": (listener_to_another_target_group, ("4.2", "4.7"),
                                                    "listener forwards to lab-app-tg, not to lab-app-target-group"),
    "template without the instance profile": (template_without_the_profile, "4.3",
                                              "lab-app-launch-template version 2 has no IAM instance profile"),
    "template with metadata tokens required": (
        lambda lab: default_version(lab, {"MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"}}),
        "4.3", "version 2 requires metadata tokens (V2 only)"),
    "template of Amazon Linux 2": (lambda lab: default_version(lab, {"ImageId": ami(lab, AL2_PARAMETER)}), "4.3",
                                   "launches amzn2-ami-hvm"),
    "template of t3.large": (lambda lab: default_version(lab, {"InstanceType": "t3.large"}), "4.3",
                             "version 2 has instance type t3.large, not t3.micro"),
    "template whose user data uses another bucket": (
        lambda lab: default_version(lab, {"UserData": encoded(userdata.render("us-west-2", OTHER_BUCKET))}),
        "4.3", f"user data sets photo bucket {OTHER_BUCKET}, not employee-photo-bucket-"),
    "ASG min 1": (update_group(MinSize=1), "4.4", "has desired 2, min 1, max 4, not desired 2, min 2, max 4"),
    "ASG max 2": (update_group(MaxSize=2), "4.4", "has desired 2, min 2, max 2, not desired 2, min 2, max 4"),
    "ASG in one subnet": (group_in_one_subnet, "4.4",
                          "launches into Public Subnet 1 (us-west-2a), not both public subnets"),
    "ASG with EC2 health checks": (update_group(HealthCheckType="EC2"), "4.4", "uses EC2 health checks only"),
    "policy on ALBRequestCountPerTarget": (
        policy_on_requests, "4.5", "Policy requests-per-target tracks ALBRequestCountPerTarget, not average CPU"),
    "policy target 60": (lambda lab: cpu_policy(lab, target=60.0, EstimatedInstanceWarmup=300), "4.5",
                         "keeps CPU at 60.0, not 30"),
    "no notification configuration": (no_notifications, "4.6", "app-asg sends no notifications"),
    "notifications to another topic": (notifications_to_another_topic, "4.6",
                                       "notifies app-alerts, not SNS topic lab-app-sns-topic"),
    "the topic deleted": (topic_deleted, "4.6", "but that topic no longer exists"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_fails_exactly_its_step_in_both_languages(solved, mistake):
    make, steps_failing, says = MISTAKES[mistake]
    steps_failing = (steps_failing,) if isinstance(steps_failing, str) else steps_failing
    make(solved)
    result, inventory = grading.grade(solved.lab, solved.target, solved.settings.home)
    steps = {s.id: s for s in result.steps}
    assert {i for i, s in steps.items() if s.status != PASS} == set(steps_failing), \
        ([(s.id, s.message) for s in steps.values() if s.status != PASS], activities(solved))
    messages = " ".join(steps[i].message for i in steps_failing)
    for fragment in (says,) if isinstance(says, str) else says:
        assert fragment in messages, messages
    assert all(steps[i].hint for i in steps_failing)
    korean = {s.id: s for s in grading.regrade(solved.lab, inventory, "ko").steps}
    assert {i for i, s in korean.items() if s.status != PASS} == set(steps_failing)
    for step_id in steps_failing:
        assert HANGUL.search(korean[step_id].message) and HANGUL.search(korean[step_id].hint), korean[step_id].message


def test_instances_launched_from_a_template_without_the_profile_fail_the_live_step(solved):
    """The group's instances replaced from a version without the instance profile: their apps answer through the
    load balancer but cannot reach the table or bucket, so 4.7 fails (on AWS too), naming the fix."""
    template_without_the_profile(solved)
    scaling = solved.client("autoscaling")
    before = {i["InstanceId"] for i in scaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]["Instances"]}
    solved.client("ec2").terminate_instances(InstanceIds=sorted(before))
    elb, deadline = solved.client("elbv2"), time.monotonic() + 60
    while True:  # app-asg replaces them from version 2; their "/" still answers 200, so they turn healthy
        found = elb.describe_target_health(TargetGroupArn=target_group_arn(solved))["TargetHealthDescriptions"]
        if len([t for t in found if t["TargetHealth"]["State"] == "healthy" and t["Target"]["Id"] not in before]) >= 2:
            break
        assert time.monotonic() < deadline, f"app-asg did not replace its instances within 60 s: {found}"
        time.sleep(0.2)
    steps = {s.id: s for s in solved.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == {"4.3", "4.7"}
    assert "cannot reach its data" in steps["4.7"].message
    assert "instance profile EmployeeDirectoryAppRole (step 4.3)" in steps["4.7"].message


# --- valid variants pass ---------------------------------------------------------------------

def template_version_2_as_default(lab):
    default_version(lab, {"Monitoring": {"Enabled": True}})
    template = lab.client("ec2").describe_launch_templates(LaunchTemplateNames=[TEMPLATE])["LaunchTemplates"][0]
    assert (template["DefaultVersionNumber"], template["LatestVersionNumber"]) == (2, 2)
    data = version_data(lab, "2")
    assert data["Monitoring"] == {"Enabled": True}
    assert data["IamInstanceProfile"] == {"Name": "EmployeeDirectoryAppRole"}  # from version 1, as on AWS


def an_extra_tag_on_the_group(lab):
    lab.client("autoscaling").create_or_update_tags(Tags=[{
        "ResourceId": GROUP, "ResourceType": "auto-scaling-group", "Key": "team", "Value": "web",
        "PropagateAtLaunch": True}])


def a_replacement_from_version_2_named_web_application(lab):
    """Version 2 names its instances Web Application, and the group has replaced one instance from it."""
    default_version(lab, {"TagSpecifications": [
        {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "Web Application"}]}]})
    scaling = lab.client("autoscaling")
    [group] = scaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]
    old = group["Instances"][0]["InstanceId"]
    scaling.terminate_instance_in_auto_scaling_group(InstanceId=old, ShouldDecrementDesiredCapacity=False)
    [new] = [i for i in originals(lab) if i["State"]["Name"] == "running"]
    assert old not in alive(lab) and {"Key": "aws:autoscaling:groupName", "Value": GROUP} in new["Tags"]
    until_two_healthy(lab, exclude=old)  # the replacement passes its health checks, as a learner waits for


VARIANTS = {
    "success codes 200,302": modify_target_group(Matcher={"HttpCode": "200,302"}),
    "success codes 200-299": modify_target_group(Matcher={"HttpCode": "200-299"}),
    "an extra tag on the group": an_extra_tag_on_the_group,
    "launch template version 2 made the default": template_version_2_as_default,
    "an instance replaced from version 2, named Web Application": a_replacement_from_version_2_named_web_application,
    "the instance profile given by its ARN, as the console does": lambda lab: default_version(lab, {
        "IamInstanceProfile": {"Arn": f"arn:aws:iam::{lab.settings.sandbox_account}:instance-profile/{PROFILE}"}}),
    "a second, request-count policy beside the CPU one": lambda lab: (policy_on_requests(lab), cpu_policy(
        lab, EstimatedInstanceWarmup=300)),
}


def test_valid_variants_pass(solved):
    """Valid changes add up: each is made on top of the ones before, and the grade after each passes."""
    for variant, make in VARIANTS.items():
        make(solved)
        failing = [(s.id, s.message) for s in solved.grade().steps if s.status != PASS]
        assert not failing, variant


def test_the_warm_up_on_the_group_instead_of_the_policy_passes(solved):
    cpu_policy(solved)
    solved.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=GROUP, DefaultInstanceWarmup=300)
    assert solved.failing() == set()


def test_no_warm_up_anywhere_or_a_disabled_policy_fails_the_policy_step(solved):
    cpu_policy(solved)  # no warm-up on the policy, none on the group
    [failing] = [s for s in solved.grade().steps if s.status != PASS]
    assert failing.id == "4.5"
    assert "Policy cpu-at-30-percent's instance warm-up is not set, not 300 s" in failing.message
    cpu_policy(solved, EstimatedInstanceWarmup=300, Enabled=False)
    [failing] = [s for s in solved.grade().steps if s.status != PASS]
    assert (failing.id, failing.message) == ("4.5", "Policy cpu-at-30-percent is disabled: enable it.")


# --- a learner who does the steps by hand (nothing tagged) -----------------------------------

def build_by_hand(lab: LabDriver, register: bool = True, terminate: bool = True) -> None:
    """Steps 4.1-4.7 as a learner does them after `lab.start 4`, in the console's order."""
    ec2, elb, scaling = lab.client("ec2"), lab.client("elbv2"), lab.client("autoscaling")
    first, second = subnet(lab, "Public Subnet 1")["SubnetId"], subnet(lab, "Public Subnet 2")["SubnetId"]
    vpc = subnet(lab, "Public Subnet 1")["VpcId"]
    group_arn = elb.create_target_group(
        Name=TARGET_GROUP, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance", HealthCheckPath="/",
        HealthyThresholdCount=2, UnhealthyThresholdCount=5, HealthCheckTimeoutSeconds=20,
        HealthCheckIntervalSeconds=30)["TargetGroups"][0]["TargetGroupArn"]
    [original] = [i["InstanceId"] for i in originals(lab) if i["State"]["Name"] == "running"]
    if register:
        elb.register_targets(TargetGroupArn=group_arn, Targets=[{"Id": original}])
    made = elb.create_load_balancer(Name=LOAD_BALANCER, Subnets=[first, second], Scheme="internet-facing",
                                    SecurityGroups=[security_group(lab, "LoadBalancerSG")])["LoadBalancers"][0]
    elb.create_listener(LoadBalancerArn=made["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}])
    template = ec2.create_launch_template(LaunchTemplateName=TEMPLATE, LaunchTemplateData={
        "ImageId": ami(lab), "InstanceType": "t3.micro", "IamInstanceProfile": {"Name": PROFILE},
        "SecurityGroupIds": [security_group(lab, "Web Security Group")],
        "MetadataOptions": {"HttpTokens": "optional", "HttpEndpoint": "enabled"},
        "UserData": encoded(provision.user_data_path(lab.context()).read_text())})["LaunchTemplate"]
    scaling.create_auto_scaling_group(  # the console names the template by its id
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=2, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=f"{first},{second}", TargetGroupARNs=[group_arn],
        HealthCheckType="ELB", HealthCheckGracePeriod=300)
    cpu_policy(lab, name="Target Tracking Policy", EstimatedInstanceWarmup=300)
    topic = lab.client("sns").create_topic(Name=TOPIC)["TopicArn"]
    scaling.put_notification_configuration(AutoScalingGroupName=GROUP, TopicARN=topic, NotificationTypes=NOTICES)
    until_two_healthy(lab, exclude=original)  # as the hint says: wait for them, then terminate the original
    if terminate:
        ec2.terminate_instances(InstanceIds=[original])


def until_two_healthy(lab: LabDriver, exclude: str, wait: float = 60.0) -> None:
    """Until two targets other than `exclude` pass lab-app-target-group's health checks (bounded)."""
    elb, deadline = lab.client("elbv2"), time.monotonic() + wait
    while True:
        found = elb.describe_target_health(TargetGroupArn=target_group_arn(lab))["TargetHealthDescriptions"]
        if len([t for t in found if t["TargetHealth"]["State"] == "healthy" and t["Target"]["Id"] != exclude]) >= 2:
            return
        assert time.monotonic() < deadline, f"not two healthy targets within {wait:g} s: {found}"
        time.sleep(0.2)


def test_a_learner_who_builds_it_by_hand_passes_and_clean_leaves_their_work_alone(lab4):
    lab4.run("start")
    build_by_hand(lab4)
    result = lab4.grade()
    assert [(s.id, s.status) for s in result.steps] == [(i, PASS) for i in LAB4], \
        ([(s.id, s.message) for s in result.steps if s.status != PASS], activities(lab4))
    logged = len(lab4.log)
    with pytest.raises(BootcampError, match="^target group lab-app-target-group already exists .* not made by lab 4"):
        lab4.run("solve")  # never uses or takes over what the learner made under the course's names
    assert len(lab4.log) == logged
    elb, scaling = lab4.client("elbv2"), lab4.client("autoscaling")
    before = (provision.leftovers(lab4.context()), sorted(alive(lab4)), len(lab4.log))
    with pytest.raises(BootcampError) as refused:
        lab4.run("clean")
    said = str(refused.value)
    assert "\n" not in said
    assert said.startswith("your Auto Scaling group app-asg and your load balancer Web-Application-ALB use the lab "
                           "network"), said
    assert "then run `invoke lab.clean 4` again" in said
    assert (provision.leftovers(lab4.context()), sorted(alive(lab4)), len(lab4.log)) == before
    assert [g["AutoScalingGroupName"] for g in scaling.describe_auto_scaling_groups()["AutoScalingGroups"]] == [GROUP]
    assert balancer(lab4)["State"]["Code"] == "active"

    scaling.delete_auto_scaling_group(AutoScalingGroupName=GROUP, ForceDelete=True)
    with pytest.raises(BootcampError, match="^your load balancer Web-Application-ALB ") as refused:
        lab4.run("clean")  # the group is gone, the load balancer is still there
    assert "Auto Scaling group" not in str(refused.value).split(":")[0]
    elb.delete_load_balancer(LoadBalancerArn=balancer(lab4)["LoadBalancerArn"])
    lab4.log.clear()
    lab4.run("clean")
    log = "\n".join(lab4.log)
    for theirs in ("target group lab-app-target-group", "launch template lab-app-launch-template",
                   "SNS topic lab-app-sns-topic"):
        assert f"left {theirs}: you made it" in log, log
    assert [g["TargetGroupName"] for g in elb.describe_target_groups()["TargetGroups"]] == [TARGET_GROUP]
    assert [t["LaunchTemplateName"] for t in lab4.client("ec2").describe_launch_templates()["LaunchTemplates"]] == \
        [TEMPLATE]
    assert [t["TopicArn"] for t in lab4.client("sns").list_topics()["Topics"]] == [topic_arn(lab4)]
    assert provision.leftovers(lab4.context()) == []
    assert alive(lab4) == [] and lab4.client("ec2").describe_network_interfaces()["NetworkInterfaces"] == []


def test_the_last_steps_in_order_registration_then_the_original_terminated(lab4):
    """Registration is seen only while the original runs; the original still running fails 4.7 alone."""
    lab4.run("start")
    build_by_hand(lab4, register=False, terminate=False)
    [original] = [i["InstanceId"] for i in originals(lab4)]
    steps = {s.id: s for s in lab4.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == {"4.2", "4.7"}
    assert steps["4.2"].message == (f"Instance Web Application ({original}) is not registered in target group "
                                    "lab-app-target-group: register it (Target groups > lab-app-target-group > "
                                    "Targets > Register targets).")

    lab4.client("elbv2").register_targets(TargetGroupArn=target_group_arn(lab4), Targets=[{"Id": original}])
    steps = {s.id: s for s in lab4.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == {"4.7"}
    assert steps["4.7"].message == (f"The original instance Web Application ({original}) is still running: once "
                                    "lab-app-target-group has two healthy instances of app-asg, terminate it.")
    assert steps["4.7"].hint and steps["4.2"].notes == []

    lab4.client("ec2").terminate_instances(InstanceIds=[original])
    steps = {s.id: s for s in lab4.grade().steps}
    assert {i for i, s in steps.items() if s.status != PASS} == set()
    assert steps["4.2"].notes == [UNSEEN]


# --- start refuses lab 3, clean, invoke ------------------------------------------------------

def test_start_refuses_an_account_where_lab_3_is_set_up_before_making_anything(lab3, settings):
    lab3.run("start")
    lab4 = LabDriver("4", settings)
    groups = sorted(g["GroupName"] for g in lab4.client("ec2").describe_security_groups()["SecurityGroups"])
    with pytest.raises(BootcampError) as refused:
        lab4.run("start")
    said = str(refused.value)
    assert "\n" not in said and "belongs to lab 3" in said and "run `invoke lab.clean 3` first" in said, said
    assert lab4.log == []
    assert sorted(g["GroupName"] for g in lab4.client("ec2").describe_security_groups()["SecurityGroups"]) == groups
    assert provision.leftovers(lab4.context()) == []


def test_start_never_takes_over_the_learners_own_bucket_and_clean_leaves_it_with_its_files(lab4):
    mine = lab3_provision.bucket_names(lab4.context())[0]  # the name lab 3's guide gives the learner
    s3 = lab4.client("s3")
    s3.create_bucket(Bucket=mine, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket=mine, Key="my-photo.png", Body=b"mine")
    lab4.run("start")
    assert bucket_of(lab4) != mine
    for untouched in (lambda: s3.get_bucket_tagging(Bucket=mine), lambda: s3.get_bucket_policy(Bucket=mine)):
        with pytest.raises(ClientError, match="NoSuchTagSet|NoSuchBucketPolicy"):
            untouched()
    lab4.run("clean")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=mine)["Contents"]] == ["my-photo.png"]
    assert f"  left bucket {mine}: you made it" in "\n".join(lab4.log)


def test_start_refuses_the_learners_own_table_before_making_anything(lab4):
    lab4.client("dynamodb").create_table(
        TableName="Employees", BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    with pytest.raises(BootcampError, match="DynamoDB table Employees already exists .* not made by lab 4"):
        lab4.run("start")
    assert lab4.log == [] and provision.leftovers(lab4.context()) == []
    assert lab4.client("dynamodb").scan(TableName="Employees")["Items"] == []


def test_a_second_start_keeps_the_learners_edits(lab4):
    lab4.run("start")
    ddb, s3, bucket = lab4.client("dynamodb"), lab4.client("s3"), bucket_of(lab4)
    ddb.update_item(TableName="Employees", Key={"id": {"S": "emp-101"}}, UpdateExpression="SET #n = :n",
                    ExpressionAttributeNames={"#n": "name"}, ExpressionAttributeValues={":n": {"S": "Renamed"}})
    tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"] + [{"Key": "team", "Value": "mine"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    policy["Statement"][0]["Sid"] = "MyOwnSid"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    lab4.run("start")
    item = ddb.get_item(TableName="Employees", Key={"id": {"S": "emp-101"}})["Item"]
    assert item["name"]["S"] == "Renamed"
    assert {"Key": "team", "Value": "mine"} in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Sid"] == "MyOwnSid"


def test_a_start_whose_state_names_what_the_account_no_longer_has_builds_it_again(lab4):
    """As after `sandbox.reset`: the state kept on this machine names an instance and a bucket that are gone."""
    lab4.run("start")
    emptied = LabDriver("4", another_account(lab4.settings))
    emptied.context().state.save(lab4.context().state.load())
    emptied.run("start")
    [original] = originals(emptied)
    assert original["State"]["Name"] == "running"
    assert emptied.client("s3").list_objects_v2(Bucket=bucket_of(emptied))["KeyCount"] == 10


def test_a_second_start_after_the_last_step_keeps_the_learners_progress(solved):
    before = sorted(alive(solved))
    solved.run("start")
    assert sorted(alive(solved)) == before
    assert solved.failing() == set()


def test_clean_removes_everything_and_leaves_no_interface_or_instance(solved):
    solved.run("clean")
    ec2 = solved.client("ec2")
    assert provision.leftovers(solved.context()) == []
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    assert alive(solved) == []
    assert solved.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []
    assert solved.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    assert solved.client("elbv2").describe_target_groups()["TargetGroups"] == []
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
    assert solved.client("sns").list_topics()["Topics"] == []
    log = "\n".join(solved.log)
    for gone in ("deleted Auto Scaling group app-asg and its instances",
                 "deleted load balancer Web-Application-ALB and its listeners",
                 "deleted target group lab-app-target-group", "deleted launch template lab-app-launch-template",
                 "deleted SNS topic lab-app-sns-topic"):
        assert gone in log
    assert "you made it" not in log
    again = solved.run("clean")
    assert again.done == []


def test_start_and_grade_through_invoke_show_the_table_and_the_snapshot_regrades_the_same(lab4, tmp_path):
    env = {**sandbox_env(lab4.settings), "BOOTCAMP_OWNER": lab4.settings.owner}  # solve below is ours too
    started = run_invoke("lab.start", "4", env=env)
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr
    assert "lab 4 start: done" in started.stdout and "Do the steps, then run `invoke lab.grade 4`" in started.stdout
    lab4.run("solve")
    snapshot = tmp_path / "snapshot.json"
    out = run_invoke("lab.grade", "4", "--snapshot", str(snapshot), env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    assert "Lab 4: Make the web app highly available" in out.stdout
    assert "Score 16/16 (all steps pass) on embedded" in out.stdout
    assert all(step in out.stdout for step in LAB4)
    live = lab4.grade()
    again = grading.regrade(lab4.lab, Inventory.from_dict(json.loads(snapshot.read_text())))
    assert [(s.id, s.status, s.message, s.notes) for s in again.steps] == \
        [(s.id, s.status, s.message, s.notes) for s in live.steps]
    assert again.score == 16


def test_verify_through_invoke(settings):
    out = run_invoke("lab.verify", "4", env=sandbox_env(settings), timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    assert "lab 4 verified on embedded" in out.stdout
