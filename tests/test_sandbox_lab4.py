"""Lab 4's sandbox extensions as a learner's tools see them, over HTTP: boto3 and the real AWS CLI.

Auto Scaling notification configurations, launch template versions made from a source version,
and the network interfaces a launch makes, which go with their instance.
"""

import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from bootcamp.sandbox import control
from conftest import ROOT, sandbox_env
from conftest import an_image as amazon_linux_image

REGION = "us-west-2"
FIVE_TYPES = ["autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
              "autoscaling:EC2_INSTANCE_TERMINATE", "autoscaling:EC2_INSTANCE_TERMINATE_ERROR",
              "autoscaling:TEST_NOTIFICATION"]
LAUNCH, TERMINATE, TEST = FIVE_TYPES[0], FIVE_TYPES[2], FIVE_TYPES[4]


def client(settings, service: str, region: str = REGION, account: str | None = None):
    """A boto3 client for an account's root (the fixture's account unless another is named)."""
    return boto3.client(service, endpoint_url=control.endpoint(settings), region_name=region,
                        aws_access_key_id=account or settings.sandbox_account,
                        aws_secret_access_key=control.SECRET)


def run_aws(cli: Path, settings, *args: str) -> subprocess.CompletedProcess:
    """The AWS CLI as a learner runs it after `eval "$(invoke sandbox.env)"`, answering JSON."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOOTCAMP_"))}
    return subprocess.run([str(cli), *args, "--endpoint-url", control.endpoint(settings), "--output", "json"],
                          cwd=ROOT, env={**base, **sandbox_env(settings)}, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def aws(aws_cli):
    """`aws(settings, *args)`: the real AWS CLI, forked from the worker's loaded copy (conftest's `aws_cli`)."""
    return lambda settings, *args: run_aws(aws_cli, settings, *args)


@pytest.fixture
def aws_json(aws):
    """`aws_json(settings, *args)`: `aws`'s answer parsed, once it has succeeded."""
    def answer(settings, *args: str):
        done = aws(settings, *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None
    return answer


def other_account(settings) -> str:
    """An account no other test uses: the fixture's counter never reaches 90 million."""
    return settings.sandbox_account[:4] + "9" + settings.sandbox_account[5:]


def an_image(ec2) -> str:
    return amazon_linux_image(ec2)["ImageId"]


def a_subnet(ec2) -> str:
    vpc = ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc, CidrBlock="10.4.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]


def a_group(settings, name: str, desired: int = 0, subnet: str | None = None, region: str = REGION) -> str:
    """An Auto Scaling group launching from a launch template of its own."""
    ec2 = client(settings, "ec2", region)
    ec2.create_launch_template(LaunchTemplateName=f"{name}-template",
                               LaunchTemplateData={"ImageId": an_image(ec2), "InstanceType": "t3.micro"})
    placement = {"VPCZoneIdentifier": subnet} if subnet else {"AvailabilityZones": [f"{region}a"]}
    client(settings, "autoscaling", region).create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": f"{name}-template"},
        MinSize=0, MaxSize=4, DesiredCapacity=desired, **placement)
    return name


def a_topic(settings, name: str, region: str = REGION) -> str:
    return client(settings, "sns", region).create_topic(Name=name)["TopicArn"]


def entries(group: str, topic: str, *types: str) -> list[dict]:
    return [{"AutoScalingGroupName": group, "TopicARN": topic, "NotificationType": t} for t in types]


def configurations(autoscaling, **filters) -> list[dict]:
    return autoscaling.describe_notification_configurations(**filters)["NotificationConfigurations"]


def error_of(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as refused:
        call(*args, **kwargs)
    return {"code": refused.value.response["Error"]["Code"], "message": refused.value.response["Error"]["Message"],
            "status": refused.value.response["ResponseMetadata"]["HTTPStatusCode"]}


# --- Auto Scaling notification configurations ------------------------------------------------

def test_a_put_configuration_is_described_one_entry_per_type_and_a_new_put_replaces_it(settings):
    autoscaling = client(settings, "autoscaling")
    group, topic = a_group(settings, "web"), a_topic(settings, "web-events")
    autoscaling.put_notification_configuration(AutoScalingGroupName=group, TopicARN=topic,
                                               NotificationTypes=[TERMINATE, LAUNCH])
    assert configurations(autoscaling) == entries(group, topic, LAUNCH, TERMINATE)

    autoscaling.put_notification_configuration(AutoScalingGroupName=group, TopicARN=topic,
                                               NotificationTypes=["autoscaling:EC2_INSTANCE_LAUNCH_ERROR"])
    assert configurations(autoscaling) == entries(group, topic, "autoscaling:EC2_INSTANCE_LAUNCH_ERROR")


def test_each_topic_of_a_group_has_its_own_configuration_and_delete_removes_one(settings):
    autoscaling = client(settings, "autoscaling")
    group = a_group(settings, "web")
    ops, audit = a_topic(settings, "ops"), a_topic(settings, "audit")
    autoscaling.put_notification_configuration(AutoScalingGroupName=group, TopicARN=ops, NotificationTypes=[LAUNCH])
    autoscaling.put_notification_configuration(AutoScalingGroupName=group, TopicARN=audit, NotificationTypes=FIVE_TYPES)
    assert configurations(autoscaling) == entries(group, audit, *FIVE_TYPES) + entries(group, ops, LAUNCH)

    autoscaling.delete_notification_configuration(AutoScalingGroupName=group, TopicARN=audit)
    assert configurations(autoscaling) == entries(group, ops, LAUNCH)


def test_configurations_are_filtered_by_group_and_paged(settings):
    autoscaling = client(settings, "autoscaling")
    web, batch, topic = a_group(settings, "web"), a_group(settings, "batch"), a_topic(settings, "events")
    autoscaling.put_notification_configuration(AutoScalingGroupName=web, TopicARN=topic, NotificationTypes=FIVE_TYPES)
    autoscaling.put_notification_configuration(AutoScalingGroupName=batch, TopicARN=topic, NotificationTypes=[LAUNCH])
    assert configurations(autoscaling, AutoScalingGroupNames=[batch]) == entries(batch, topic, LAUNCH)
    assert configurations(autoscaling, AutoScalingGroupNames=["no-such-group"]) == []

    first = autoscaling.describe_notification_configurations(MaxRecords=4)
    second = autoscaling.describe_notification_configurations(MaxRecords=4, NextToken=first["NextToken"])
    assert first["NotificationConfigurations"] + second["NotificationConfigurations"] == (
        entries(batch, topic, LAUNCH) + entries(web, topic, *FIVE_TYPES))
    assert len(first["NotificationConfigurations"]) == 4 and "NextToken" not in second
    pages = autoscaling.get_paginator("describe_notification_configurations").paginate(PaginationConfig={"PageSize": 2})
    assert [len(page["NotificationConfigurations"]) for page in pages] == [2, 2, 2]


def test_a_put_publishes_the_test_notification_to_the_topics_subscribers(settings):
    sqs, sns = client(settings, "sqs"), client(settings, "sns")
    group, topic = a_group(settings, "web"), a_topic(settings, "web-events")
    queue = sqs.create_queue(QueueName="scaling-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    client(settings, "autoscaling").put_notification_configuration(
        AutoScalingGroupName=group, TopicARN=topic, NotificationTypes=[LAUNCH])
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 1
    envelope = json.loads(received[0]["Body"])
    assert envelope["TopicArn"] == topic and envelope["Subject"] == 'Auto Scaling: test notification for group "web"'
    message = json.loads(envelope["Message"])
    assert {k: message[k] for k in ("Event", "AutoScalingGroupName", "AccountId", "Service")} == {
        "Event": TEST, "AutoScalingGroupName": "web", "AccountId": settings.sandbox_account,
        "Service": "AWS Auto Scaling"}
    assert message["AutoScalingGroupARN"].endswith(":autoScalingGroupName/web")


@pytest.mark.parametrize("wrong, message", [
    ("group", "AutoScalingGroup name not found - AutoScalingGroup 'no-such-group' not found"),
    ("type", "Notification type autoscaling:EC2_INSTANCE_REBOOT is not valid"),
    ("topic", "no-such-topic not found"),
], ids=["group", "type", "topic"])
def test_a_configuration_naming_something_unknown_is_a_validation_error(settings, wrong, message):
    autoscaling = client(settings, "autoscaling")
    group, topic = a_group(settings, "web"), a_topic(settings, "web-events")
    request = {"AutoScalingGroupName": group, "TopicARN": topic, "NotificationTypes": [LAUNCH]}
    request.update({"group": {"AutoScalingGroupName": "no-such-group"},
                    "type": {"NotificationTypes": [LAUNCH, "autoscaling:EC2_INSTANCE_REBOOT"]},
                    "topic": {"TopicARN": topic.replace("web-events", "no-such-topic")}}[wrong])
    error = error_of(autoscaling.put_notification_configuration, **request)
    assert error["code"] == "ValidationError" and error["status"] == 400 and message in error["message"]
    assert configurations(autoscaling) == []


def test_a_bad_next_token_is_refused(settings):
    error = error_of(client(settings, "autoscaling").describe_notification_configurations, NextToken="not-a-token")
    assert (error["code"], error["status"]) == ("InvalidNextToken", 400)


def test_deleting_the_group_deletes_its_configurations(settings):
    autoscaling = client(settings, "autoscaling")
    web, batch, topic = a_group(settings, "web"), a_group(settings, "batch"), a_topic(settings, "events")
    for group in (web, batch):
        autoscaling.put_notification_configuration(AutoScalingGroupName=group, TopicARN=topic, NotificationTypes=[LAUNCH])
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=web, ForceDelete=True)
    assert configurations(autoscaling) == entries(batch, topic, LAUNCH)

    autoscaling.create_auto_scaling_group(AutoScalingGroupName=web, MinSize=0, MaxSize=1, DesiredCapacity=0,
                                          LaunchTemplate={"LaunchTemplateName": "web-template"},
                                          AvailabilityZones=[f"{REGION}a"])
    assert configurations(autoscaling, AutoScalingGroupNames=[web]) == []  # a new group of that name starts bare


def test_configurations_are_kept_per_account_and_region(settings):
    group, topic = a_group(settings, "web"), a_topic(settings, "events")
    client(settings, "autoscaling").put_notification_configuration(
        AutoScalingGroupName=group, TopicARN=topic, NotificationTypes=[LAUNCH])
    assert configurations(client(settings, "autoscaling", account=other_account(settings))) == []
    assert configurations(client(settings, "autoscaling", region="us-east-1")) == []
    assert configurations(client(settings, "autoscaling")) == entries(group, topic, LAUNCH)


def test_notification_configurations_are_held_to_iam(settings):
    iam, autoscaling = client(settings, "iam"), client(settings, "autoscaling")
    group, topic = a_group(settings, "web"), a_topic(settings, "events")
    autoscaling.put_notification_configuration(AutoScalingGroupName=group, TopicARN=topic, NotificationTypes=[LAUNCH])
    iam.create_user(UserName="viewer")
    iam.put_user_policy(UserName="viewer", PolicyName="describe-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "autoscaling:Describe*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="viewer")["AccessKey"]
    viewer = boto3.client("autoscaling", endpoint_url=control.endpoint(settings), region_name=REGION,
                          aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])

    assert configurations(viewer) == entries(group, topic, LAUNCH)
    error = error_of(viewer.delete_notification_configuration, AutoScalingGroupName=group, TopicARN=topic)
    assert error["status"] == 403 and "autoscaling:DeleteNotificationConfiguration" in error["message"]
    assert configurations(autoscaling) == entries(group, topic, LAUNCH)


def test_notification_configurations_through_the_aws_cli(settings, aws, aws_json):
    group, topic = a_group(settings, "web"), a_topic(settings, "web-events")
    assert aws_json(settings, "autoscaling", "describe-auto-scaling-notification-types") == {
        "AutoScalingNotificationTypes": FIVE_TYPES}
    assert aws_json(settings, "autoscaling", "put-notification-configuration", "--auto-scaling-group-name", group,
                    "--topic-arn", topic, "--notification-types", LAUNCH, TERMINATE) is None
    assert aws_json(settings, "autoscaling", "describe-notification-configurations",
                    "--auto-scaling-group-names", group) == {
        "NotificationConfigurations": entries(group, topic, LAUNCH, TERMINATE)}

    refused = aws(settings, "autoscaling", "put-notification-configuration", "--auto-scaling-group-name", group,
                  "--topic-arn", topic, "--notification-types", "autoscaling:EC2_INSTANCE_REBOOT")
    assert refused.returncode != 0 and "(ValidationError)" in refused.stderr
    assert "autoscaling:EC2_INSTANCE_REBOOT is not valid" in refused.stderr

    aws_json(settings, "autoscaling", "delete-notification-configuration", "--auto-scaling-group-name", group,
             "--topic-arn", topic)
    assert aws_json(settings, "autoscaling", "describe-notification-configurations") == {
        "NotificationConfigurations": []}


# --- launch template versions made from a source version -------------------------------------

def a_template(ec2, name: str = "app", **extra) -> dict:
    """Version 1 of a launch template as the lab's app has it; returns its data as described."""
    group = ec2.create_security_group(GroupName=f"{name}-sg", Description="web")["GroupId"]
    data = {"ImageId": an_image(ec2), "InstanceType": "t2.micro", "KeyName": "lab-key",
            "SecurityGroupIds": [group], "UserData": "IyEvYmluL2Jhc2gKZWNobyBoaQo=",
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
            **extra}
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)
    return version_data(ec2, name, "1")


def version_data(ec2, name: str, version: str) -> dict:
    found = ec2.describe_launch_template_versions(LaunchTemplateName=name, Versions=[version])
    return found["LaunchTemplateVersions"][0]["LaunchTemplateData"]


@pytest.mark.parametrize("source", ["1", "$Latest", "$Default"])
def test_a_version_made_from_a_source_version_inherits_its_data(settings, source):
    ec2 = client(settings, "ec2")
    first = a_template(ec2)
    made = ec2.create_launch_template_version(LaunchTemplateName="app", SourceVersion=source,
                                              VersionDescription="bigger",
                                              LaunchTemplateData={"InstanceType": "t3.micro"})
    assert made["LaunchTemplateVersion"]["VersionNumber"] == 2
    assert made["LaunchTemplateVersion"]["LaunchTemplateData"] == {**first, "InstanceType": "t3.micro"}
    assert version_data(ec2, "app", "2") == {**first, "InstanceType": "t3.micro"}
    assert version_data(ec2, "app", "1") == first


def test_a_version_without_a_source_version_holds_only_the_data_given(settings):
    ec2 = client(settings, "ec2")
    a_template(ec2)
    ec2.create_launch_template_version(LaunchTemplateName="app", LaunchTemplateData={"InstanceType": "t3.micro"})
    assert version_data(ec2, "app", "2") == {"InstanceType": "t3.micro"}


def test_a_given_parameter_replaces_the_sources_whole(settings):
    ec2 = client(settings, "ec2")
    first = a_template(ec2)
    other = ec2.create_security_group(GroupName="admin-sg", Description="admin")["GroupId"]
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "Tier", "Value": "web"}]}]
    template_id = ec2.describe_launch_templates(LaunchTemplateNames=["app"])["LaunchTemplates"][0]["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=template_id, SourceVersion="1",
                                       LaunchTemplateData={"SecurityGroupIds": [other], "TagSpecifications": tags})
    assert version_data(ec2, "app", "2") == {**first, "SecurityGroupIds": [other], "TagSpecifications": tags}


def test_inherited_block_device_mappings_leave_the_sources_snapshot_behind(settings):
    ec2 = client(settings, "ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    disks = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot, "VolumeSize": 8, "VolumeType": "gp3"}}]
    a_template(ec2, BlockDeviceMappings=disks)
    ec2.create_launch_template_version(LaunchTemplateName="app", SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.micro"})
    ec2.create_launch_template_version(LaunchTemplateName="app", SourceVersion="1",
                                       LaunchTemplateData={"BlockDeviceMappings": disks})
    assert version_data(ec2, "app", "2")["BlockDeviceMappings"] == [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}]
    assert version_data(ec2, "app", "3")["BlockDeviceMappings"] == disks
    assert version_data(ec2, "app", "1")["BlockDeviceMappings"] == disks


@pytest.mark.parametrize("source", ["9", "0", "latest"])
def test_an_unknown_source_version_is_refused_and_makes_no_version(settings, source):
    ec2 = client(settings, "ec2")
    a_template(ec2)
    template_id = ec2.describe_launch_templates(LaunchTemplateNames=["app"])["LaunchTemplates"][0]["LaunchTemplateId"]
    error = error_of(ec2.create_launch_template_version, LaunchTemplateName="app", SourceVersion=source,
                     LaunchTemplateData={"InstanceType": "t3.micro"})
    assert error == {"code": "InvalidLaunchTemplateId.VersionNotFound", "status": 400,
                     "message": f"Could not find the specified version {source} for the launch template "
                                f"with ID {template_id}."}
    assert ec2.describe_launch_templates(LaunchTemplateNames=["app"])["LaunchTemplates"][0]["LatestVersionNumber"] == 1


def test_an_auto_scaling_group_launches_the_inherited_version(settings):
    ec2, autoscaling = client(settings, "ec2"), client(settings, "autoscaling")
    first = a_template(ec2)
    ec2.create_launch_template_version(LaunchTemplateName="app", SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.micro", "UserData": "ZWNobyB2Mgo="})
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="web", MinSize=1, MaxSize=1, DesiredCapacity=1,
                                          LaunchTemplate={"LaunchTemplateName": "app", "Version": "2"},
                                          VPCZoneIdentifier=a_subnet(ec2))
    launched = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    instance = ec2.describe_instances(InstanceIds=[launched["Instances"][0]["InstanceId"]])
    instance = instance["Reservations"][0]["Instances"][0]
    assert (instance["InstanceType"], instance["ImageId"]) == ("t3.micro", first["ImageId"])
    user_data = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
    assert user_data["UserData"]["Value"] == "ZWNobyB2Mgo="


def test_a_version_from_a_source_version_through_the_aws_cli(settings, aws, aws_json):
    first = a_template(client(settings, "ec2"))
    made = aws_json(settings, "ec2", "create-launch-template-version", "--launch-template-name", "app",
                    "--source-version", "1", "--launch-template-data", '{"InstanceType":"t3.micro"}')
    assert made["LaunchTemplateVersion"]["VersionNumber"] == 2
    assert aws_json(settings, "ec2", "describe-launch-template-versions", "--launch-template-name", "app",
                    "--versions", "2", "--query", "LaunchTemplateVersions[0].LaunchTemplateData") == {
        **first, "InstanceType": "t3.micro"}

    refused = aws(settings, "ec2", "create-launch-template-version", "--launch-template-name", "app",
                  "--source-version", "7", "--launch-template-data", '{"InstanceType":"t3.micro"}')
    assert refused.returncode != 0 and "(InvalidLaunchTemplateId.VersionNotFound)" in refused.stderr
    assert "Could not find the specified version 7" in refused.stderr


# --- network interfaces made by a launch -----------------------------------------------------

def interfaces(ec2, subnet: str) -> dict[str, dict]:
    """The subnet's network interfaces by id: status, and the attachment's instance and setting."""
    found = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])
    return {n["NetworkInterfaceId"]: {"status": n["Status"],
                                      "instance": n.get("Attachment", {}).get("InstanceId"),
                                      "delete_on_termination": n.get("Attachment", {}).get("DeleteOnTermination")}
            for n in found["NetworkInterfaces"]}


def launch(ec2, subnet: str, how: str) -> str:
    request = {"subnet": {"SubnetId": subnet},
               "unsaid": {"NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet}]},
               "true": {"NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet, "DeleteOnTermination": True}]},
               "false": {"NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet, "DeleteOnTermination": False}]},
               }[how]
    return ec2.run_instances(ImageId=an_image(ec2), MinCount=1, MaxCount=1, **request)["Instances"][0]["InstanceId"]


@pytest.mark.parametrize("how", ["subnet", "unsaid", "true"])
def test_the_interface_a_launch_makes_is_deleted_with_its_instance(settings, how):
    ec2 = client(settings, "ec2")
    subnet = a_subnet(ec2)
    instance = launch(ec2, subnet, how)
    made = interfaces(ec2, subnet)
    assert list(made.values()) == [{"status": "in-use", "instance": instance, "delete_on_termination": True}]

    ec2.terminate_instances(InstanceIds=[instance])
    assert interfaces(ec2, subnet) == {}
    with pytest.raises(ClientError, match="InvalidNetworkInterfaceID.NotFound"):
        ec2.describe_network_interfaces(NetworkInterfaceIds=list(made))


def test_an_interface_the_launch_says_to_keep_is_left_detached_and_available(settings):
    ec2 = client(settings, "ec2")
    subnet = a_subnet(ec2)
    instance = launch(ec2, subnet, "false")
    [eni] = interfaces(ec2, subnet)
    assert interfaces(ec2, subnet)[eni] == {"status": "in-use", "instance": instance, "delete_on_termination": False}

    ec2.terminate_instances(InstanceIds=[instance])
    assert interfaces(ec2, subnet) == {eni: {"status": "available", "instance": None, "delete_on_termination": None}}
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    assert interfaces(ec2, subnet) == {}


def test_an_interface_attached_by_id_keeps_its_own_setting(settings):
    ec2 = client(settings, "ec2")
    subnet = a_subnet(ec2)
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    instance = ec2.run_instances(ImageId=an_image(ec2), MinCount=1, MaxCount=1,
                                 NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId": eni}])
    instance = instance["Instances"][0]["InstanceId"]
    assert interfaces(ec2, subnet) == {eni: {"status": "in-use", "instance": instance, "delete_on_termination": False}}

    ec2.terminate_instances(InstanceIds=[instance])
    assert interfaces(ec2, subnet) == {eni: {"status": "available", "instance": None, "delete_on_termination": None}}


def test_an_auto_scaling_groups_interfaces_go_with_its_instances(settings):
    ec2, autoscaling = client(settings, "ec2"), client(settings, "autoscaling")
    subnet = a_subnet(ec2)
    group = a_group(settings, "web", desired=2, subnet=subnet)
    members = {i["InstanceId"] for i in autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]}
    assert len(members) == 2
    assert sorted((n["instance"], n["delete_on_termination"]) for n in interfaces(ec2, subnet).values()) == sorted(
        (m, True) for m in members)

    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)
    states = ec2.describe_instances(InstanceIds=sorted(members))["Reservations"]
    assert {i["State"]["Name"] for r in states for i in r["Instances"]} == {"terminated"}
    assert interfaces(ec2, subnet) == {}


def test_terminating_a_terminated_instance_again_changes_nothing(settings):
    ec2 = client(settings, "ec2")
    subnet = a_subnet(ec2)
    instance = launch(ec2, subnet, "subnet")
    ec2.terminate_instances(InstanceIds=[instance])
    again = ec2.terminate_instances(InstanceIds=[instance])["TerminatingInstances"][0]
    assert again["PreviousState"]["Name"] == "terminated"
    described = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "terminated"
    assert interfaces(ec2, subnet) == {}


def test_launched_interfaces_through_the_aws_cli(settings, aws_json):
    ec2 = client(settings, "ec2")
    subnet, image = a_subnet(ec2), an_image(ec2)
    gone = aws_json(settings, "ec2", "run-instances", "--image-id", image, "--subnet-id", subnet,
                    "--query", "Instances[0].InstanceId")
    kept = aws_json(settings, "ec2", "run-instances", "--image-id", image, "--network-interfaces",
                    f"DeviceIndex=0,SubnetId={subnet},DeleteOnTermination=false", "--query", "Instances[0].InstanceId")
    listed = ["ec2", "describe-network-interfaces", "--filters", f"Name=subnet-id,Values={subnet}", "--query",
              "sort_by(NetworkInterfaces, &Attachment.InstanceId)[].[Attachment.InstanceId, Attachment.DeleteOnTermination]"]
    assert aws_json(settings, *listed) == sorted([[gone, True], [kept, False]])

    aws_json(settings, "ec2", "terminate-instances", "--instance-ids", gone, kept)
    assert aws_json(settings, "ec2", "describe-network-interfaces", "--filters", f"Name=subnet-id,Values={subnet}",
                    "--query", "NetworkInterfaces[].[Status, Attachment]") == [["available", None]]


# --- a group's DefaultInstanceWarmup and a policy's Enabled ------------------------------------

def a_warm_group(settings) -> None:
    """Group "web" with a default instance warm-up of 120 s."""
    a_group(settings, "web", subnet=a_subnet(client(settings, "ec2")))
    client(settings, "autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", DefaultInstanceWarmup=120)


def test_a_groups_default_instance_warmup_is_kept_on_create_and_update(settings):
    a_warm_group(settings)
    autoscaling = client(settings, "autoscaling")
    described = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert described["DefaultInstanceWarmup"] == 120
    autoscaling.update_auto_scaling_group(AutoScalingGroupName="web", DefaultInstanceWarmup=300)
    autoscaling.update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=2)  # leaves the warm-up alone
    described = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert (described["DefaultInstanceWarmup"], described["MaxSize"]) == (300, 2)
    ec2 = client(settings, "ec2")
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="born-warm", MinSize=0, MaxSize=1,
                                          LaunchTemplate={"LaunchTemplateName": "web-template"},
                                          VPCZoneIdentifier=a_subnet(ec2), DefaultInstanceWarmup=60)
    born = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["born-warm"])["AutoScalingGroups"][0]
    assert born["DefaultInstanceWarmup"] == 60


@pytest.mark.parametrize("enabled, described", [(None, True), (False, False), (True, True)])
def test_a_scaling_policy_is_described_enabled_or_not_as_put(settings, enabled, described):
    a_warm_group(settings)
    switch = {} if enabled is None else {"Enabled": enabled}
    client(settings, "autoscaling").put_scaling_policy(
        AutoScalingGroupName="web", PolicyName="cpu", PolicyType="TargetTrackingScaling", **switch,
        TargetTrackingConfiguration={"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                                     "TargetValue": 30.0})
    [policy] = client(settings, "autoscaling").describe_policies(AutoScalingGroupName="web")["ScalingPolicies"]
    assert policy["Enabled"] is described


def test_warmup_and_a_disabled_policy_through_the_aws_cli(settings, aws_json):
    a_warm_group(settings)
    aws_json(settings, "autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", "web",
             "--default-instance-warmup", "300")
    aws_json(settings, "autoscaling", "put-scaling-policy", "--auto-scaling-group-name", "web", "--policy-name", "cpu",
             "--policy-type", "TargetTrackingScaling", "--no-enabled", "--target-tracking-configuration",
             '{"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 30}')
    group = aws_json(settings, "autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "web")
    policies = aws_json(settings, "autoscaling", "describe-policies", "--auto-scaling-group-name", "web")
    assert group["AutoScalingGroups"][0]["DefaultInstanceWarmup"] == 300
    assert policies["ScalingPolicies"][0]["Enabled"] is False
