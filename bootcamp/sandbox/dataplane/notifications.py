"""Notifications: a group's launches and terminations, told to its SNS topics as Auto Scaling tells them.

Desired: every change of a group's members (an instance in, an instance out, whoever made it:
target tracking, the scaling loop's replacement, a learner's SetDesiredCapacity) is one
scaling activity and, where the group has a notification configuration for its type
(PutNotificationConfiguration, kept by lab4_apis), one message to each such topic, in AWS's
shape (Event autoscaling:EC2_INSTANCE_LAUNCH or autoscaling:EC2_INSTANCE_TERMINATE, the
activity's id, description and cause, the instance's subnet and AZ), so a subscribed SQS queue
receives it. A change whose activity another part recorded (tracking's, with the alarm that
caused it) is told with that activity; any other gets AWS's words for a difference between
desired and actual capacity. Members are compared between passes; a group made while the
sandbox runs starts from none (its first launches are told, with AWS's words for a new group,
to a configuration put before the loop saw them, as AWS's slower launches would be); what runs
when the sandbox starts is no change, and counts as warmed up.
"""

from __future__ import annotations

import json
import time
import uuid

from bootcamp.sandbox.dataplane import adapter

LAUNCH, TERMINATE = "autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_TERMINATE"
SUBJECTS = {LAUNCH: 'Auto Scaling: launch for group "{group}"',
            TERMINATE: 'Auto Scaling: termination for group "{group}"'}


def stamp(when) -> str:
    """AWS's timestamps in activities' causes: 2026-12-01T13:50:00Z."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def launch_cause(when, before: int, after: int) -> str:
    return (f"At {stamp(when)} an instance was started in response to a difference between desired and actual "
            f"capacity, increasing the capacity from {before} to {after}.")


def terminate_cause(when, before: int, after: int, instance_id: str) -> str:
    return (f"At {stamp(when)} an instance was taken out of service in response to a difference between desired "
            f"and actual capacity, shrinking the capacity from {before} to {after}.  At {stamp(when)} instance "
            f"{instance_id} was selected for termination.")


def health_cause(when, instance_id: str) -> str:
    """Why an instance stopped or terminated under its group leaves it (the scaling loop replaces it)."""
    return (f"At {stamp(when)} an instance was taken out of service in response to an EC2 health check indicating "
            f"it has been terminated or stopped.  At {stamp(when)} instance {instance_id} was selected for "
            "termination.")


def activity(group, member, kind: str, cause: str, when) -> dict:
    """A scaling activity as DescribeScalingActivities lists it, for one instance in or out."""
    verb = "Launching a new EC2 instance" if kind == LAUNCH else "Terminating EC2 instance"
    return {"ActivityId": str(uuid.uuid4()), "AutoScalingGroupName": group.name, "AutoScalingGroupARN": group.arn,
            "Description": f"{verb}: {member.id}", "Cause": cause, "StartTime": when, "EndTime": when,
            "StatusCode": "Successful", "StatusMessage": "", "Progress": 100,
            "Details": json.dumps({"Subnet ID": member.subnet_id, "Availability Zone": member.az})}


def message(group, member, kind: str, act: dict, when) -> str:
    """The SNS message body Auto Scaling sends for a launch or a termination."""
    launch = kind == LAUNCH
    return json.dumps({
        "Origin": "EC2" if launch else "AutoScalingGroup", "Destination": "AutoScalingGroup" if launch else "EC2",
        "Progress": 50, "AccountId": group.account, "Description": act["Description"],
        "RequestId": act["ActivityId"], "EndTime": stamp_ms(act["EndTime"]), "AutoScalingGroupARN": group.arn,
        "ActivityId": act["ActivityId"], "StartTime": stamp_ms(act["StartTime"]), "Service": "AWS Auto Scaling",
        "Time": stamp_ms(when), "EC2InstanceId": member.id, "StatusCode": "InProgress", "StatusMessage": "",
        "Details": json.loads(act["Details"]), "AutoScalingGroupName": group.name, "Cause": act["Cause"],
        "Event": kind})


def stamp_ms(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Notifications:
    def __init__(self, clock):
        self.clock = clock
        self.members: dict[tuple, dict[str, object]] = {}  # group key -> instance id -> Member
        self.first_seen: dict[tuple, dict[str, float]] = {}  # group key -> instance id -> monotonic (warm-up)
        self.explained: dict[tuple[str, str, str], dict] = {}  # (account, instance id, kind) -> its activity
        self.pending: dict[tuple, str] = {}  # group key -> the cause of a change still to come (a policy's)
        self.started = False

    def explain(self, group, member_id: str, kind: str, act: dict) -> None:
        """Another part made this change and recorded its activity: tell it with that activity."""
        self.explained[(group.account, member_id, kind)] = act

    def since(self, group_key: tuple, instance_id: str) -> float | None:
        """When this member was first seen in its group (time.monotonic), None when it is not."""
        return self.first_seen.get(group_key, {}).get(instance_id)

    def reconcile(self, groups: list) -> None:
        now, when = time.monotonic(), self.clock.now()
        seen = {}
        for group in groups:
            current = {m.id: m for m in group.members}
            seen[group.key] = current
            before = self.members.get(group.key)
            born = self.first_seen.setdefault(group.key, {})
            if before is None and not self.started:  # what runs when the sandbox starts: warmed up, no change
                for instance_id in current:
                    born.setdefault(instance_id, float("-inf"))
                continue
            if before is None:  # a group made since: its first launches, as AWS words a new group's
                before = {}
                self.pending[group.key] = (f"At {stamp(when)} a user request created an AutoScalingGroup changing "
                                           f"the desired capacity from 0 to {group.desired}.")
            for instance_id in current:
                born.setdefault(instance_id, now)
            added = [m for i, m in current.items() if i not in before]
            removed = [m for i, m in before.items() if i not in current]
            count = len(before)
            shrunk = group.desired < len(before)  # else a member left though the capacity did not change
            for member in removed:
                self._tell(group, member, TERMINATE, count, count - 1, when, health=not shrunk)
                count -= 1
                born.pop(member.id, None)
            for member in added:
                self._tell(group, member, LAUNCH, count, count + 1, when)
                count += 1
            if len(current) == group.desired:
                self.pending.pop(group.key, None)
        self.members = seen
        self.first_seen = {k: v for k, v in self.first_seen.items() if k in seen}
        self.pending = {k: v for k, v in self.pending.items() if k in seen}
        self.started = True

    def _tell(self, group, member, kind: str, before: int, after: int, when, health: bool = False) -> None:
        act = self.explained.pop((group.account, member.id, kind), None)
        if act is None:
            act = next((a for a in adapter.activities(group.account, group.region, group.name)
                        if a["Description"].endswith(member.id) and a["Description"].startswith(
                            "Launching" if kind == LAUNCH else "Terminating")), None)
        if act is None:
            if kind == LAUNCH:
                cause = launch_cause(when, before, after)
            elif health or member.id in group.gone:  # stopped or terminated under it, not by a capacity change
                cause = health_cause(when, member.id)
            else:
                cause = terminate_cause(when, before, after, member.id)
            if group.key in self.pending:
                cause = f"{self.pending[group.key]}  {cause}"
            act = activity(group, member, kind, cause, when)
            adapter.record_activity(group.account, group.region, act)
        for topic, types in adapter.notification_topics(group.account, group.region, group.name):
            if kind in types:
                adapter.publish(group.account, group.region, topic, message(group, member, kind, act, when),
                                SUBJECTS[kind].format(group=group.name))
