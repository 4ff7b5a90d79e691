"""The data plane's metrics and target tracking: an app's real CPU in CloudWatch, the target tracking
policy's alarms, scaling out and back in, the group's notifications and a learner's own alarm in a
subscribed SQS queue, and the pure rules behind them (alarm evaluation, target capacity, warm-up,
cooldown, CPU share).

One sandbox of its own at BOOTCAMP_SANDBOX_SPEED=60 (a metric period, 60 s, lasts one second
here), with t2.micro instances (1 vCPU: the stress action burns one process for 6 s), so the whole
file costs about 14 CPU-seconds (measured at load 23: 9.7 s this process, 4.3 s its sandbox's).
Everything goes over HTTP with boto3.
"""

import base64
import dataclasses
import datetime
import json
import re
import time
import urllib.parse
import urllib.request

import pytest

from bootcamp import userdata
from bootcamp.sandbox import control
from bootcamp.sandbox.dataplane import metrics, tracking
from bootcamp.settings import Settings
from bootcamp.targets import make_target
from test_dataplane import target_lab
from test_dataplane import until as dataplane_until
from test_lab2 import ami

SPEED = 60
STRESS_SECONDS = 6  # six periods at full CPU: AlarmHigh needs three
LAUNCH, TERMINATE = "autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_TERMINATE"
WAIT = 30.0


def until(check, what: str, wait: float = WAIT):
    """Poll every 0.5 s (half a period here: the polls cost this process CPU), bounded by `wait`."""
    return dataplane_until(check, what, wait, every=0.5)


@pytest.fixture(scope="module")
def fast_sandbox(tmp_path_factory):
    settings = Settings.from_env(env={}, home=tmp_path_factory.mktemp("metrics-home"), sandbox_port=control.free_port(),
                                 sandbox_account="777788880000")
    control.up(settings, env={"BOOTCAMP_SANDBOX_SPEED": str(SPEED), "BOOTCAMP_SANDBOX_STATE": "off",
                              "BOOTCAMP_SANDBOX_MAX_APPS": "3"})
    yield make_target(settings)
    control.down(settings)


@pytest.fixture(scope="module")
def group(fast_sandbox):
    """Group cpu-asg (min 1, max 2, t2.micro, the app's user data), notifying a topic an SQS queue follows,
    with lab 4's policy: average CPU at 30 %, warm-up 300 s."""
    target = fast_sandbox
    ec2, sns, sqs = target.client("ec2"), target.client("sns"), target.client("sqs")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    ec2.create_launch_template(LaunchTemplateName="cpu-template", LaunchTemplateData={
        "ImageId": ami(target_lab(target)), "InstanceType": "t2.micro",
        "UserData": base64.b64encode(userdata.render(target.region).encode()).decode()})
    topic = sns.create_topic(Name="cpu-topic")["TopicArn"]
    queue = sqs.create_queue(QueueName="cpu-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    autoscaling = target.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="cpu-asg", LaunchTemplate={"LaunchTemplateName": "cpu-template", "Version": "$Latest"},
        MinSize=1, MaxSize=2, DesiredCapacity=1, VPCZoneIdentifier=subnet)
    autoscaling.put_notification_configuration(AutoScalingGroupName="cpu-asg", TopicARN=topic,
                                               NotificationTypes=[LAUNCH, TERMINATE])
    # A learner's own alarm on the group's CPU, telling the topic (the queue then hears of it too).
    target.client("cloudwatch").put_metric_alarm(
        AlarmName="cpu-busy", Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=50.0, ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic],
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": "cpu-asg"}])
    autoscaling.put_scaling_policy(
        AutoScalingGroupName="cpu-asg", PolicyName="cpu30", PolicyType="TargetTrackingScaling",
        EstimatedInstanceWarmup=300, TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 30.0})
    return {"target": target, "autoscaling": autoscaling, "queue": queue, "sqs": sqs,
            "cloudwatch": target.client("cloudwatch")}


def members(g) -> list[str]:
    found = g["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=["cpu-asg"])["AutoScalingGroups"][0]
    return [i["InstanceId"] for i in found["Instances"]]


def desired(g) -> int:
    return g["autoscaling"].describe_auto_scaling_groups(
        AutoScalingGroupNames=["cpu-asg"])["AutoScalingGroups"][0]["DesiredCapacity"]


def alarm_names(g) -> dict[str, str]:
    policy = g["autoscaling"].describe_policies(AutoScalingGroupName="cpu-asg")["ScalingPolicies"][0]
    return {("high" if "-AlarmHigh-" in a["AlarmName"] else "low"): a["AlarmName"] for a in policy["Alarms"]}


def alarm(g, name: str) -> dict:
    return g["cloudwatch"].describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def cpu(g, name: str, value: str, statistic: str = "Maximum") -> list[float]:
    """The metric's datapoints over the sandbox's time so far (it runs SPEED times faster than this machine)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    found = g["cloudwatch"].get_metric_statistics(
        Namespace="AWS/EC2", MetricName="CPUUtilization", Dimensions=[{"Name": name, "Value": value}],
        StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(days=2), Period=60,
        Statistics=[statistic])["Datapoints"]
    return [p[statistic] for p in sorted(found, key=lambda p: p["Timestamp"])]


def metric_data(g, instance_id: str) -> list[float]:
    now = datetime.datetime.now(datetime.timezone.utc)
    found = g["cloudwatch"].get_metric_data(
        MetricDataQueries=[{"Id": "cpu", "MetricStat": {"Metric": {
            "Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "InstanceId", "Value": instance_id}]}, "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(days=2))
    return found["MetricDataResults"][0]["Values"]


def events(g, seen: list) -> list[dict]:
    """The Auto Scaling and CloudWatch messages the queue received so far (SNS envelopes opened)."""
    for message in g["sqs"].receive_message(QueueUrl=g["queue"], MaxNumberOfMessages=10).get("Messages", []):
        seen.append(json.loads(json.loads(message["Body"])["Message"]))
        g["sqs"].delete_message(QueueUrl=g["queue"], ReceiptHandle=message["ReceiptHandle"])
    return seen


def stress(settings, instance_id: str, seconds: int) -> None:
    app = until(lambda: next((a for a in control.running_apps(settings) if a["instance"] == instance_id), None),
                f"the app of {instance_id} runs")
    body = urllib.parse.urlencode({"seconds": seconds}).encode()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def answered():
        try:
            opener.open(urllib.request.Request(f"http://127.0.0.1:{app['port']}/stress", data=body), timeout=5)
            return True
        except OSError:
            return False

    until(answered, "the app takes the stress request")


def test_the_policy_keeps_its_alarms_as_aws_does(group):
    names = alarm_names(group)
    assert names["high"].startswith("TargetTracking-cpu-asg-AlarmHigh-")
    assert names["low"].startswith("TargetTracking-cpu-asg-AlarmLow-")
    high, low = alarm(group, names["high"]), alarm(group, names["low"])
    for found in (high, low):
        assert (found["Namespace"], found["MetricName"], found["Statistic"], found["Period"]) == (
            "AWS/EC2", "CPUUtilization", "Average", 60)
        assert found["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": "cpu-asg"}]
        assert found["AlarmActions"][0].endswith(":autoScalingGroupName/cpu-asg:policyName/cpu30")
    assert (high["Threshold"], high["ComparisonOperator"], high["EvaluationPeriods"], high["DatapointsToAlarm"]) == (
        30.0, "GreaterThanThreshold", 3, 3)
    assert (low["Threshold"], low["ComparisonOperator"], low["EvaluationPeriods"], low["DatapointsToAlarm"]) == (
        27.0, "LessThanThreshold", 15, 15)


def test_stress_scales_the_group_out_and_back_in_and_the_queue_hears_of_it(group, fast_sandbox):
    settings = fast_sandbox.settings
    first = until(lambda: members(group), "the group launches its instance")[0]
    stress(settings, first, STRESS_SECONDS)
    # The app's stress workers are its own processes: the instance's CPU shows them.
    until(lambda: max(cpu(group, "InstanceId", first) or [0]) > 30, "the instance's CPUUtilization rises")
    until(lambda: max(cpu(group, "AutoScalingGroupName", "cpu-asg", "Average") or [0]) > 30,
          "the group's average CPUUtilization rises")
    assert max(metric_data(group, first)) > 30  # GetMetricData answers from the same datapoints
    names = alarm_names(group)
    until(lambda: alarm(group, names["high"])["StateValue"] == "ALARM", "AlarmHigh goes to ALARM")
    assert alarm(group, names["high"])["StateReason"].startswith("Threshold Crossed: 3 datapoints [")
    until(lambda: desired(group) == 2 and len(members(group)) == 2, "the group scales out to its max")
    second = next(i for i in members(group) if i != first)
    activities = group["autoscaling"].describe_scaling_activities(AutoScalingGroupName="cpu-asg")["Activities"]
    launched = activities[0]  # newest first
    assert any("a user request created an AutoScalingGroup changing the desired capacity from 0 to 1." in a["Cause"]
               for a in activities)  # the group's first launch
    assert launched["Description"] == f"Launching a new EC2 instance: {second}"
    # One activity for the launch, in AWS's words: the alarm's change of desired capacity, then the launch.
    assert re.fullmatch(rf"At \S+Z a monitor alarm {names['high']} in state ALARM triggered policy cpu30 changing "
                        r"the desired capacity from 1 to 2\.  At \S+Z an instance was started in response to a "
                        r"difference between desired and actual capacity, increasing the capacity from 1 to 2\.",
                        launched["Cause"]), launched["Cause"]
    assert [a["Description"] for a in activities].count(f"Launching a new EC2 instance: {second}") == 1
    # The stress is over: fifteen quiet periods put AlarmLow in ALARM and the group back to its min.
    until(lambda: desired(group) == 1 and len(members(group)) == 1, "the group scales back in", wait=60)
    assert alarm(group, names["low"])["StateValue"] == "ALARM"
    seen: list = []
    until(lambda: {e.get("Event") for e in events(group, seen)} >= {LAUNCH, TERMINATE},
          "the queue receives both events")
    launch = next(e for e in seen if e.get("Event") == LAUNCH and e["EC2InstanceId"] == second)
    assert launch["AutoScalingGroupName"] == "cpu-asg" and launch["Service"] == "AWS Auto Scaling"
    assert launch["Description"] == f"Launching a new EC2 instance: {second}"
    assert set(launch["Details"]) == {"Subnet ID", "Availability Zone"}
    terminate = next(e for e in seen if e.get("Event") == TERMINATE)
    assert terminate["Description"] == f"Terminating EC2 instance: {terminate['EC2InstanceId']}"
    assert names["low"] in terminate["Cause"]
    events(group, seen)
    told = [(e["Event"], e["EC2InstanceId"]) for e in seen if e.get("Event") in (LAUNCH, TERMINATE)]
    assert len(told) == len(set(told)), told  # each launch and termination is told once
    busy = next(e for e in seen if e.get("AlarmName") == "cpu-busy" and e["NewStateValue"] == "ALARM")
    assert busy["Trigger"]["Dimensions"] == [{"value": "cpu-asg", "name": "AutoScalingGroupName"}]
    assert busy["NewStateReason"].startswith("Threshold Crossed: 1 datapoint [")


@pytest.mark.parametrize("values, state", [
    ([31, 40, 35], "ALARM"),  # 3 of 3 above
    ([31, 29, 35], "OK"),  # one below: 3 of 3 is out of reach
    ([31, 35], None),  # a period missing: not yet decided, the state stays
    ([], "INSUFFICIENT_DATA"),
])
def test_an_alarm_needs_its_datapoints_to_alarm_of_its_evaluation_periods(values, state):
    assert tracking.judge(values, 3, 3, 30.0, "GreaterThanThreshold") == state


def test_target_tracking_asks_for_enough_instances_to_bring_the_average_to_the_target():
    assert tracking.capacity_for(1, 100.0, 30.0) == 4  # one instance at 100 %: four at 25 %
    assert tracking.capacity_for(2, 30.0, 30.0) == 2  # on target: no change (no float rounding up)
    assert tracking.capacity_for(4, 0.0, 30.0) == 0  # idle: the group's min then bounds it


def test_cpu_utilization_is_a_share_of_the_instances_vcpus():
    assert metrics.utilization(60.0, 60.0, 2) == 50.0  # one busy worker on a t3.micro
    assert metrics.utilization(150.0, 60.0, 2) == 100.0  # more than the vCPUs had: capped
    assert metrics.spent({1: 5.0, 2: 1.0}, {1: 7.0, 3: 0.5}) == 2.5  # thread 3 is new, thread 2 ended


def test_the_stress_action_burns_one_worker_per_vcpu_of_the_instance_type():
    from bootcamp.sandbox.dataplane import adapter
    from employee_directory import instance

    assert (adapter.vcpus("t3.micro"), adapter.vcpus("t2.micro"), adapter.vcpus("c5.2xlarge")) == (2, 1, 8)
    assert instance.vcpus({"INSTANCE_VCPUS": "2"}) == 2  # what the data plane tells a t3.micro's app
    assert instance.vcpus({}) >= 1  # on EC2: the machine's own CPUs


def test_a_simple_policy_waits_out_its_cooldown_and_stays_within_min_and_max():
    from bootcamp.sandbox.dataplane import adapter, clock

    group = adapter.Group(account="1", region="r", name="g", arn="arn", min_size=1, max_size=3, desired=2,
                          default_warmup=None, default_cooldown=300, members=())
    policy = adapter.Policy(account="1", region="r", group="g", name="p", arn="arn", type="SimpleScaling", metric="",
                            target=0.0, warmup=None, disable_scale_in=False, enabled=True,
                            adjustment_type="ChangeInCapacity", adjustment=5, cooldown=None)
    loop = tracking.Tracking(clock.Clock(1), None)
    assert loop._simple(policy, group) == 3  # +5, but max 3
    loop.last_activity[group.key] = time.monotonic()  # it just scaled: the group's 300 s cooldown runs
    assert loop._simple(policy, group) is None
    assert tracking.simple_capacity(dataclasses.replace(policy, adjustment_type="PercentChangeInCapacity",
                                                        adjustment=-10), group) == 1  # at least one


def test_target_tracking_counts_only_instances_past_their_warm_up():
    from bootcamp.sandbox.dataplane import adapter, clock, notifications

    members = (adapter.Member("i-old", "us-west-2a", "subnet-1"), adapter.Member("i-new", "us-west-2b", "subnet-2"))
    group = adapter.Group(account="1", region="r", name="g", arn="arn", min_size=1, max_size=4, desired=2,
                          default_warmup=None, default_cooldown=300, members=members)
    policy = adapter.Policy(account="1", region="r", group="g", name="p", arn="arn", type="TargetTrackingScaling",
                            metric="ASGAverageCPUUtilization", target=30.0, warmup=300, disable_scale_in=False,
                            enabled=True, adjustment_type="", adjustment=None, cooldown=None)
    high = adapter.Alarm("1", "r", "high", "AWS/EC2", "CPUUtilization", (), "Average", 60, 3, 3, 30.0,
                         "GreaterThanThreshold", "ALARM", (), True)
    low = dataclasses.replace(high, name="low", threshold=27.0, comparison="LessThanThreshold")
    seen = notifications.Notifications()
    seen.hear("1", "r", "g", {"Description": "Launching a new EC2 instance: i-new", "StatusCode": "Successful"})
    seen.launched[("1", "i-old")] = time.monotonic() - 400  # i-new: 0 s of 300
    loop = tracking.Tracking(clock.Clock(1), seen)
    # i-old at 90 % alone asks for 3; i-new's idle 0 % (still warming up) does not pull the average down.
    assert loop._tracked(policy, group, high, {("1", "i-old"): 90.0, ("1", "i-new"): 0.0}) == 3
    # No scale-in while a member warms up, though the group idles.
    assert loop._tracked(policy, group, low, {("1", "i-old"): 0.0, ("1", "i-new"): 0.0}) is None
    seen.launched[("1", "i-new")] = time.monotonic() - 400
    assert loop._tracked(policy, group, low, {("1", "i-old"): 0.0, ("1", "i-new"): 0.0}) == 1  # the group's min


def test_an_instance_terminated_under_its_group_is_told_as_an_ec2_health_check_found_it(group, fast_sandbox):
    victim = until(lambda: members(group), "the group has an instance")[0]
    until(lambda: any(a["Description"] == f"Launching a new EC2 instance: {victim}" for a in group["autoscaling"]
                      .describe_scaling_activities(AutoScalingGroupName="cpu-asg")["Activities"]),
          "the sandbox has seen its launch")
    group["target"].client("ec2").terminate_instances(InstanceIds=[victim])
    seen: list = []
    told = until(lambda: next((e for e in events(group, seen)
                               if e.get("Event") == TERMINATE and e["EC2InstanceId"] == victim), None),
                 "the queue hears of the termination")
    assert "in response to an EC2 health check indicating it has been terminated or stopped" in told["Cause"]
