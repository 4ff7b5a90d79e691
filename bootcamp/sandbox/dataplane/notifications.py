"""Notifications: a group's launches and terminations, told to its SNS topics as Auto Scaling tells them.

Desired: every launch and termination of a group's instance (whoever made it: target tracking,
the scaling loop's replacement, a learner's SetDesiredCapacity or TerminateInstanceInAutoScalingGroup)
is one message to each topic of the group's notification configurations for its type
(PutNotificationConfiguration, kept by lab4_apis), in AWS's shape (Event
autoscaling:EC2_INSTANCE_LAUNCH or autoscaling:EC2_INSTANCE_TERMINATE, the activity's id,
description and cause, the instance's subnet and AZ), so a subscribed SQS queue receives it.

The one source is the scaling activities stream (`adapter.watch_activities`): the scaling
section records each launch and termination once, in AWS's words (with the alarm's cause when
target tracking changed the desired capacity), and this module only tells them. The listener
runs where the activity is recorded (a request's thread, or a loop's) and only queues it; the
loop's pass publishes what was queued, under the account's lock. A detach is not told (AWS
sends no termination for it), nor a failed launch. The same stream says when each instance was
launched, for target tracking's warm-up; an instance not launched since the sandbox started (a
restored one) counts as warmed up.
"""

from __future__ import annotations

import collections
import datetime
import json
import time

from bootcamp.sandbox.dataplane import adapter, unguarded

LAUNCH, TERMINATE = "autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_TERMINATE"
SUBJECTS = {LAUNCH: 'Auto Scaling: launch for group "{group}"',
            TERMINATE: 'Auto Scaling: termination for group "{group}"'}
PREFIXES = {LAUNCH: "Launching a new EC2 instance: ", TERMINATE: "Terminating EC2 instance: "}


def kind_of(activity: dict) -> str | None:
    """LAUNCH or TERMINATE for a successful launch or a termination, None for any other activity."""
    if activity.get("StatusCode") != "Successful":
        return None
    return next((k for k, p in PREFIXES.items() if activity.get("Description", "").startswith(p)), None)


def stamp_ms(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def message(account: str, group: str, activity: dict, kind: str, when) -> str:
    """The SNS message body Auto Scaling sends for a launch or a termination."""
    launch = kind == LAUNCH
    return json.dumps({
        "Origin": "EC2" if launch else "AutoScalingGroup", "Destination": "AutoScalingGroup" if launch else "EC2",
        "Progress": 50, "AccountId": account, "Description": activity["Description"],
        "RequestId": activity["ActivityId"], "EndTime": stamp_ms(activity["EndTime"]),
        "AutoScalingGroupARN": activity["AutoScalingGroupARN"], "ActivityId": activity["ActivityId"],
        "StartTime": stamp_ms(activity["StartTime"]), "Service": "AWS Auto Scaling", "Time": stamp_ms(when),
        "EC2InstanceId": activity["Description"][len(PREFIXES[kind]):], "StatusCode": "InProgress",
        "StatusMessage": "", "Details": json.loads(activity.get("Details") or "{}"), "AutoScalingGroupName": group,
        "Cause": activity["Cause"], "Event": kind})


class Notifications:
    def __init__(self, changing=unguarded):
        self.changing = changing  # DataPlane.changing: a write under the account's lock, marked for the store
        self.heard: collections.deque = collections.deque()  # (account, region, group, activity, kind), to tell
        self.launched: dict[tuple[str, str], float] = {}  # (account, instance id) -> time.monotonic() of its launch

    def hear(self, account: str, region: str, group: str, activity: dict) -> None:
        """adapter.watch_activities' listener: note a launch or a termination (it runs in the recorder's thread)."""
        kind = kind_of(activity)
        if kind is None:
            return
        instance_id = activity["Description"][len(PREFIXES[kind]):]
        if kind == LAUNCH:
            self.launched[(account, instance_id)] = time.monotonic()
        else:
            self.launched.pop((account, instance_id), None)
        self.heard.append((account, region, group, activity, kind))

    def since(self, account: str, instance_id: str) -> float:
        """When this instance was launched (time.monotonic()); -inf when not since the sandbox started."""
        return self.launched.get((account, instance_id), float("-inf"))

    def reconcile(self) -> None:
        """Publish every launch and termination heard since the last pass, once each."""
        while self.heard:
            account, region, group, activity, kind = self.heard.popleft()
            when = datetime.datetime.now(datetime.timezone.utc)
            for topic, types in adapter.notification_topics(account, region, group):
                if kind in types:
                    with self.changing(account, ("sns", "sqs")):
                        adapter.publish(account, region, topic, message(account, group, activity, kind, when),
                                        SUBJECTS[kind].format(group=group))
