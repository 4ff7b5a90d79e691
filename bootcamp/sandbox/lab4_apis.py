"""What lab 4 (an Application Load Balancer in front of an Auto Scaling group) needs of the sandbox
that moto 5.2.5 does not do as AWS does.

Three patches, each applied once by `build_app()` and safe to apply again:

- `autoscaling_notification_configurations`: Put/Describe/DeleteNotificationConfiguration and
  DescribeAutoScalingNotificationTypes, which moto answers with HTTP 500;
- `launch_template_versions_from_a_source`: CreateLaunchTemplateVersion with SourceVersion
  starts from that version's data, as on AWS, where moto keeps only the data given;
- `launched_interfaces_deleted_on_termination`: the network interfaces a launch makes are
  deleted with their instance unless the request said otherwise, as on AWS, where moto
  leaves every terminated instance's primary interface behind, still "in-use";
- `group_warmup_and_policy_switch_kept`: an Auto Scaling group's DefaultInstanceWarmup and a
  scaling policy's Enabled, which moto drops, are kept and described.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.models import AutoScalingBackend
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import InvalidLaunchTemplateVersionNotFound
from moto.ec2.models.instances import Instance
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.ec2.utils import parse_user_data
from moto.sns.models import sns_backends

NOTIFICATION_TYPES = (
    "autoscaling:EC2_INSTANCE_LAUNCH",
    "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
    "autoscaling:EC2_INSTANCE_TERMINATE",
    "autoscaling:EC2_INSTANCE_TERMINATE_ERROR",
    "autoscaling:TEST_NOTIFICATION",
)
TEST_NOTIFICATION = "autoscaling:TEST_NOTIFICATION"
DEFAULT_RECORDS, MOST_RECORDS = 50, 100


# --- Auto Scaling notification configurations ------------------------------------------------

def _configurations(backend) -> dict[tuple[str, str], tuple[str, ...]]:
    """The notification configurations of one account and region: (group, topic ARN) -> types.

    Kept on moto's Auto Scaling backend, which is per account and region, so that a reset of
    the sandbox, which empties every backend, forgets them too.
    """
    return backend.__dict__.setdefault("bootcamp_notification_configurations", {})


def _group(backend, name: str):
    group = backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found")
    return group


def _known_types(types: list[str]) -> tuple[str, ...]:
    """The types asked for, in AWS's order, once each; an unknown type is refused as AWS refuses it."""
    if not types:
        raise ValidationError("At least one notification type must be specified.")
    unknown = [t for t in types if t not in NOTIFICATION_TYPES]
    if unknown:
        raise ValidationError(f"Notification type {unknown[0]} is not valid. "
                              f"Valid notification types are: {', '.join(NOTIFICATION_TYPES)}")
    return tuple(t for t in NOTIFICATION_TYPES if t in types)


def _topic(account: str, region: str, arn: str):
    """The SNS topic a configuration names, which must exist: AWS publishes a test message to it."""
    topic = sns_backends[account][region].topics.get(arn)
    if topic is None:
        raise ValidationError(f"SNS Topic {arn} not found.")
    return topic


def _publish_test_notification(topic, group, account: str) -> None:
    """Send the autoscaling:TEST_NOTIFICATION message AWS sends when a configuration is put.

    Subscribers (an SQS queue, say) receive it as on AWS, which tells a learner the topic is
    wired up before any instance is launched. A FIFO topic is left alone: it needs a message
    group, and Auto Scaling does not send to FIFO topics.
    """
    if topic.fifo_topic:
        return
    message = {
        "AccountId": account, "RequestId": str(uuid.uuid4()),
        "AutoScalingGroupARN": group.arn, "AutoScalingGroupName": group.name,
        "Service": "AWS Auto Scaling", "Event": TEST_NOTIFICATION,
        "Time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
    }
    topic.publish(json.dumps(message), subject=f'Auto Scaling: test notification for group "{group.name}"')


class InvalidNextToken(AutoscalingClientError):
    code = "InvalidNextToken"
    message = "The NextToken value is not valid."


def _page(rows: list[dict], token: str | None, max_records: int | None) -> tuple[list[dict], str | None]:
    """One page of rows and the token of the next page (None on the last), as AWS pages them."""
    start = 0
    if token:
        if not token.isdigit() or int(token) > len(rows):
            raise InvalidNextToken()
        start = int(token)
    size = min(max(max_records or DEFAULT_RECORDS, 1), MOST_RECORDS)
    end = start + size
    return rows[start:end], (str(end) if end < len(rows) else None)


def put_notification_configuration(self):
    """PutNotificationConfiguration: the group and topic's types are replaced, not added to."""
    backend = self.autoscaling_backend
    group = _group(backend, self._get_param("AutoScalingGroupName"))
    topic_arn = self._get_param("TopicARN")
    types = _known_types(self._get_param("NotificationTypes", []))
    topic = _topic(self.current_account, self.region, topic_arn)
    _configurations(backend)[(group.name, topic_arn)] = types
    _publish_test_notification(topic, group, self.current_account)
    return EmptyResult()


def describe_notification_configurations(self):
    """DescribeNotificationConfigurations: one entry per group, topic and type, as AWS lists them."""
    wanted = set(self._get_param("AutoScalingGroupNames", []))
    rows = [{"AutoScalingGroupName": group, "TopicARN": topic, "NotificationType": kind}
            for (group, topic), kinds in sorted(_configurations(self.autoscaling_backend).items())
            if not wanted or group in wanted
            for kind in kinds]
    page, token = _page(rows, self._get_param("NextToken"), self._get_int_param("MaxRecords"))
    return ActionResult({"NotificationConfigurations": page, "NextToken": token})


def delete_notification_configuration(self):
    """DeleteNotificationConfiguration: the group must exist; a topic it does not notify is no error."""
    backend = self.autoscaling_backend
    group = _group(backend, self._get_param("AutoScalingGroupName"))
    _configurations(backend).pop((group.name, self._get_param("TopicARN")), None)
    return EmptyResult()


def describe_auto_scaling_notification_types(self):
    """DescribeAutoScalingNotificationTypes: the five types, which a console lists as checkboxes."""
    return ActionResult({"AutoScalingNotificationTypes": list(NOTIFICATION_TYPES)})


def autoscaling_notification_configurations() -> None:
    """Serve Auto Scaling's notification configurations, which moto 5.2.5 answers with HTTP 500.

    A learner (or the console) who asks an Auto Scaling group to tell an SNS topic about
    launches and terminations gets AWS's answers: one configuration per group and topic, which
    a new put replaces; DescribeNotificationConfigurations lists one entry per group, topic and
    type, in pages; an unknown group, type or topic is a ValidationError; a put publishes the
    test notification to the topic; deleting the group deletes its configurations. The actions
    are methods of moto's AutoScalingResponse, so IAM is checked before them as before any other.
    """
    if getattr(AutoScalingResponse, "put_notification_configuration", None) is put_notification_configuration:
        return
    for action in (put_notification_configuration, describe_notification_configurations,
                   delete_notification_configuration, describe_auto_scaling_notification_types):
        setattr(AutoScalingResponse, action.__name__, action)

    delete_group = AutoScalingBackend.delete_auto_scaling_group

    def delete_auto_scaling_group(self, group_name: str) -> None:
        delete_group(self, group_name)
        configurations = _configurations(self)
        for key in [k for k in configurations if k[0] == group_name]:
            del configurations[key]

    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group


# --- CreateLaunchTemplateVersion with SourceVersion ------------------------------------------

def _source_version(template, wanted: str):
    """The version a new one is based on: a version number, $Latest or $Default, as AWS reads it."""
    text = str(wanted).strip()
    if text.lower() == "$latest":
        return template.latest_version()
    if text.lower() == "$default":
        return template.default_version()
    if text.isdigit() and 1 <= int(text) <= len(template.versions):
        return template.versions[int(text) - 1]
    raise InvalidLaunchTemplateVersionNotFound(version=text, template_id=template.id)


def _inherited(source_data: dict, given: dict) -> dict:
    """The source version's data with the given data's top-level parameters in place of its own.

    AWS does not carry the source's EBS snapshots into the new version unless they are given
    again, so inherited block device mappings lose their SnapshotId.
    """
    merged = copy.deepcopy(source_data)
    if "BlockDeviceMappings" not in given:
        for mapping in merged.get("BlockDeviceMappings", []):
            if isinstance(mapping.get("Ebs"), dict):
                mapping["Ebs"].pop("SnapshotId", None)
    merged.update(given)
    return merged


def _template_named(self):
    """The launch template a request names, by id or by name (moto's own lookup and errors)."""
    template_id = self._get_param("LaunchTemplateId")
    if template_id:
        return self.ec2_backend.get_launch_template(template_id)
    return self.ec2_backend.get_launch_template_by_name(self._get_param("LaunchTemplateName"))


def launch_template_versions_from_a_source() -> None:
    """Make CreateLaunchTemplateVersion with SourceVersion inherit that version's parameters.

    A learner who makes version 2 of the app's launch template from version 1, changing only
    the instance type ("Modify template (Create new version)" in the console, or
    `aws ec2 create-launch-template-version --source-version 1 --launch-template-data
    '{"InstanceType":"t3.micro"}'`), gets version 1's AMI, security groups and user data in
    version 2, as on AWS; moto kept only the instance type. An unknown source version is
    AWS's InvalidLaunchTemplateId.VersionNotFound. The new version's UserData is also kept as
    moto keeps a first version's, so an Auto Scaling group can launch from it.
    """
    create = LaunchTemplates.create_launch_template_version
    if getattr(create, "inherits_source", False):
        return

    def create_launch_template_version(self):
        given = self._get_param("LaunchTemplateData", {}) or {}
        if "UserData" in given:
            given["UserData"] = parse_user_data(given["UserData"])
        source = self._get_param("SourceVersion")
        if source is not None and str(source) != "":
            given = _inherited(_source_version(_template_named(self), source).data, given)
        self.params["LaunchTemplateData"] = given
        return create(self)

    create_launch_template_version.inherits_source = True
    LaunchTemplates.create_launch_template_version = create_launch_template_version


# --- network interfaces made by a launch -----------------------------------------------------

def _said_false(value) -> bool:
    return value is False or str(value).lower() == "false"


def _made_at_launch(specs: list[dict]) -> dict[int, bool]:
    """For each device index the launch asks for: whether its interface is to outlive the instance.

    An interface attached by NetworkInterfaceId is not made by the launch and keeps its own
    setting, so it is left out.
    """
    return {int(spec.get("DeviceIndex", 0)): _said_false(spec.get("DeleteOnTermination"))
            for spec in specs if not spec.get("NetworkInterfaceId")}


def _release(eni) -> None:
    """Detach an interface that outlives its terminated instance: AWS shows it "available"."""
    eni.instance = None
    eni.attachment_id = None
    eni.attach_time = None
    eni.status = "available"
    eni.device_index = None


def launched_interfaces_deleted_on_termination() -> None:
    """Delete the network interfaces a launch made when their instance terminates, as AWS does.

    On AWS the primary network interface RunInstances makes (from SubnetId, or from a
    NetworkInterfaces entry without DeleteOnTermination), and so every interface of an
    instance an Auto Scaling group launches, has DeleteOnTermination true. moto made them
    false unless the request said true, so every terminated instance, and every instance of a
    deleted Auto Scaling group, left an "in-use" interface behind; a lab's clean-up and a
    grader counting interfaces saw ghosts. An interface the request says to keep (false), or
    attached by NetworkInterfaceId, outlives the instance detached and "available", as on
    AWS. Terminating an instance already terminated changes nothing, as on AWS.
    """
    prep, terminate = Instance.prep_nics, Instance.terminate
    if getattr(prep, "deletes_launched", False):
        return

    def prep_nics(self, nic_spec, *args, **kwargs):
        keep = _made_at_launch(nic_spec) if nic_spec else {0: False}
        prep(self, nic_spec, *args, **kwargs)
        for index, eni in self.nics.items():
            if index in keep:
                eni.delete_on_termination = not keep[index]

    def terminate_instance(self):
        if self._state.name == "terminated":
            return copy.copy(self._state)
        previous = terminate(self)
        for eni in self.nics.values():
            if eni.instance is self and eni.id in self.ec2_backend.enis:
                _release(eni)
        return previous

    prep_nics.deletes_launched = True
    Instance.prep_nics = prep_nics
    Instance.terminate = terminate_instance


# --- DefaultInstanceWarmup and a policy's Enabled ---------------------------------------------

def group_warmup_and_policy_switch_kept() -> None:
    """Keep what moto 5.2.5 drops: a group's DefaultInstanceWarmup and a scaling policy's Enabled.

    Today's console sets the instance warm-up on the group rather than on each policy, so a
    learner who does lab 4 that way would otherwise read back no warm-up at all; and a policy
    turned off would still read as on. Both are kept on moto's own objects, whose attribute
    names its serializer already describes (default_instance_warmup, enabled).
    """
    create, update, put = (AutoScalingResponse.create_auto_scaling_group, AutoScalingResponse.update_auto_scaling_group,
                           AutoScalingResponse.put_scaling_policy)
    if getattr(create, "keeps_warmup", False):
        return

    def keep_warmup(action):
        def answer(self):
            result = action(self)
            warmup = self._get_int_param("DefaultInstanceWarmup")
            if warmup is not None:
                group = self.autoscaling_backend.autoscaling_groups.get(self._get_param("AutoScalingGroupName"))
                if group is not None:
                    group.default_instance_warmup = warmup
            return result

        answer.keeps_warmup = True
        return answer

    def put_scaling_policy(self):
        result = put(self)
        policy = self.autoscaling_backend.policies.get(self._get_param("PolicyName"))
        if policy is not None:
            policy.enabled = self._get_bool_param("Enabled", True)
        return result

    AutoScalingResponse.create_auto_scaling_group = keep_warmup(create)
    AutoScalingResponse.update_auto_scaling_group = keep_warmup(update)
    AutoScalingResponse.put_scaling_policy = put_scaling_policy
