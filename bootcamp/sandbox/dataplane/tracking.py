"""Tracking: metric alarms judged from the published datapoints, and the scaling policies they run.

Desired: every metric alarm on AWS/EC2 CPUUtilization (target tracking's, which the adapter
makes with the policy as AWS does, and a learner's own) is in the state its last datapoints
say: ALARM when `DatapointsToAlarm` of the last `EvaluationPeriods` breach the threshold, OK
when too few can breach any more, INSUFFICIENT_DATA while there are none (missing data is
"missing", AWS's default). Judged after each period the metrics loop publishes.

While an alarm is in ALARM its Auto Scaling actions run once a period, as CloudWatch runs them:
- a target tracking policy on ASGAverageCPUUtilization sets the desired capacity to
  ceil(counted instances x their average CPU / target), within min and max, where counted
  instances are the members past their warm-up (the policy's EstimatedInstanceWarmup, else the
  group's DefaultInstanceWarmup, else its DefaultCooldown, as AWS falls back), so instances
  still warming up neither lower the average nor make it launch twice. AlarmHigh only scales
  out, AlarmLow only in, and no scale-in while a member warms up. Target tracking has no
  cooldown on AWS (PutScalingPolicy takes Cooldown for simple scaling only);
- a simple scaling policy runs (ExecutePolicy's change) unless the group's last scaling
  activity is within the policy's Cooldown, else the group's DefaultCooldown.
An SNS topic among an alarm's actions for its new state gets CloudWatch's alarm message (Subject
`ALARM: "<name>" in <region's long name>`). Step scaling is not run. A change is made by setting the
desired capacity through `adapter.set_desired_capacity` (the scaling section launches and
terminates); its `why` opens the activities' Cause ("At <time> a monitor alarm ... in state ALARM
triggered policy ... changing the desired capacity from 1 to 2.  At <time> an instance was
started ..."). Writes go through the data plane's one `changing(account, ...)`.
"""

from __future__ import annotations

import datetime
import json
import math
import time

from bootcamp.sandbox.dataplane import adapter, notifications, unguarded

OPERATORS = {
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


def judge(values: list[float], evaluation_periods: int, to_alarm: int, threshold: float,
          comparison: str) -> str | None:
    """The state the last periods' values (oldest first, missing ones left out) put an alarm in, or None: no change."""
    breach = OPERATORS[comparison][0]
    breaching = sum(1 for v in values if breach(v, threshold))
    if breaching >= to_alarm:
        return "ALARM"
    if not values:
        return "INSUFFICIENT_DATA"
    if len(values) - breaching > evaluation_periods - to_alarm:  # M breaches are out of reach
        return "OK"
    return None


def _plural(count: int, word: str = "datapoint") -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def reason(points: list[tuple[datetime.datetime, float]], state: str, alarm) -> str:
    """The state reason, as CloudWatch words a threshold crossing (newest datapoint first)."""
    breach, words = OPERATORS[alarm.comparison]

    def shown(chosen):
        return ", ".join(f"{v!r} ({t.strftime('%d/%m/%y %H:%M:%S')})" for t, v in reversed(chosen))

    if state == "ALARM":
        crossed = [(t, v) for t, v in points if breach(v, alarm.threshold)]
        return (f"Threshold Crossed: {_plural(len(crossed))} [{shown(crossed)}] "
                f"{'was' if len(crossed) == 1 else 'were'} {words} the threshold ({alarm.threshold!r}) "
                f"(minimum {_plural(alarm.datapoints_to_alarm)} for OK -> ALARM transition).")
    if state == "OK":
        calm = [(t, v) for t, v in points if not breach(v, alarm.threshold)]
        needed = alarm.evaluation_periods - alarm.datapoints_to_alarm + 1
        return (f"Threshold Crossed: {len(calm)} out of the last {_plural(len(points))} [{shown(calm)}] "
                f"{'was' if len(calm) == 1 else 'were'} not {words} the threshold ({alarm.threshold!r}) "
                f"(minimum {_plural(needed)} for ALARM -> OK transition).")
    return "Insufficient Data: no datapoints were received for the evaluation periods."


def reason_data(points, alarm, when) -> str:
    return json.dumps({"version": "1.0", "queryDate": when.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                       "statistic": alarm.statistic, "period": alarm.period, "threshold": alarm.threshold,
                       "recentDatapoints": [v for _, v in points],
                       "evaluatedDatapoints": [{"timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "value": v}
                                               for t, v in reversed(points)]})


def capacity_for(counted: int, average: float, target: float) -> int:
    """Target tracking's capacity: enough instances to bring the average to the target (rounded up)."""
    if target <= 0:
        return counted
    return math.ceil(round(counted * average / target, 6))


def warmup_of(policy, group) -> int:
    """The policy's warm-up, else the group's default warm-up, else its default cooldown (AWS's fallbacks)."""
    for value in (policy.warmup, group.default_warmup):
        if value is not None:
            return value
    return group.default_cooldown


def alarm_message(alarm, state: str, why: str, when, place: str) -> str:
    """The JSON CloudWatch sends an alarm's SNS topics when its state changes."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return json.dumps({
        "AlarmName": alarm.name, "AlarmDescription": alarm.description or None, "AWSAccountId": alarm.account,
        "AlarmConfigurationUpdatedTimestamp": stamp, "NewStateValue": state, "NewStateReason": why,
        "StateChangeTime": stamp, "Region": place, "AlarmArn": alarm.arn, "OldStateValue": alarm.state,
        "OKActions": list(alarm.ok_actions), "AlarmActions": list(alarm.actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": {"MetricName": alarm.metric, "Namespace": alarm.namespace, "StatisticType": "Statistic",
                    "Statistic": alarm.statistic.upper(), "Unit": None,
                    "Dimensions": [{"value": v, "name": n} for n, v in alarm.dimensions],
                    "Period": alarm.period, "EvaluationPeriods": alarm.evaluation_periods,
                    "DatapointsToAlarm": alarm.datapoints_to_alarm, "ComparisonOperator": alarm.comparison,
                    "Threshold": alarm.threshold, "TreatMissingData": "missing",
                    "EvaluateLowSampleCountPercentile": ""}})


def cooldown_of(policy, group) -> int:
    """A simple policy's cooldown, else its group's default cooldown."""
    return policy.cooldown if policy.cooldown is not None else group.default_cooldown


def simple_capacity(policy, group) -> int:
    """The desired capacity a simple scaling policy asks for, within the group's min and max."""
    step = policy.adjustment or 0
    if policy.adjustment_type == "ExactCapacity":
        wanted = step
    elif policy.adjustment_type == "PercentChangeInCapacity":  # rounded toward zero, at least one
        change = int(group.desired * step / 100)
        wanted = group.desired + (change or (1 if step > 0 else -1 if step < 0 else 0))
    else:
        wanted = group.desired + step
    return min(group.max_size, max(group.min_size, wanted))


class Tracking:
    def __init__(self, clock, notified: notifications.Notifications | None, changing=unguarded):
        self.clock = clock
        self.notified = notified  # when each member was launched (warm-up)
        self.changing = changing
        self.last_activity: dict[tuple, float] = {}  # group key -> monotonic of its last scaling by a policy

    def evaluate(self, end: datetime.datetime, groups: list, latest: dict) -> None:
        """Judge every alarm on the periods before `end`, then run the actions of those in ALARM."""
        by_key = {g.key: g for g in groups}
        for alarm in adapter.alarms():
            start = end - datetime.timedelta(seconds=alarm.period * alarm.evaluation_periods)
            points = [(t, v) for t, v, _ in adapter.statistics(alarm.account, alarm.region, alarm, start, end)]
            state = judge([v for _, v in points], alarm.evaluation_periods, alarm.datapoints_to_alarm,
                          alarm.threshold, alarm.comparison) or alarm.state
            if state != alarm.state:
                why = reason(points, state, alarm)
                with self.changing(alarm.account, ("cloudwatch",)):
                    adapter.set_alarm_state(alarm, state, why, reason_data(points, alarm, end), end)
                if alarm.actions_enabled:
                    self._notify(alarm, state, why, end)
            if state == "ALARM" and alarm.actions_enabled:
                for arn in alarm.actions:
                    if ":autoscaling:" in arn and ":scalingPolicy:" in arn:
                        self._run(arn, alarm, by_key, latest)

    def _notify(self, alarm, state: str, why: str, when) -> None:
        """Tell the SNS topics among the new state's actions, in CloudWatch's message shape."""
        actions = {"ALARM": alarm.actions, "OK": alarm.ok_actions, "INSUFFICIENT_DATA": alarm.insufficient_data_actions}
        topics = [a for a in actions[state] if a.startswith("arn:") and ":sns:" in a]
        if not topics:
            return
        place = adapter.region_name(alarm.region)
        body = alarm_message(alarm, state, why, when, place)
        with self.changing(alarm.account, ("sns", "sqs")):
            for topic in topics:
                adapter.publish(alarm.account, alarm.region, topic, body, f'{state}: "{alarm.name}" in {place}'[:100])

    def _run(self, arn: str, alarm, groups: dict, latest: dict) -> None:
        policy = adapter.policy_by_arn(arn)
        group = groups.get((policy.account, policy.region, policy.group)) if policy else None
        if policy is None or group is None or not policy.enabled:
            return
        if policy.type == "TargetTrackingScaling" and policy.metric == "ASGAverageCPUUtilization":
            desired = self._tracked(policy, group, alarm, latest)
        elif policy.type == "SimpleScaling":
            desired = self._simple(policy, group)
        else:
            return
        if desired is None or desired == group.desired:
            return
        why = (f"a monitor alarm {alarm.name} in state ALARM triggered policy {policy.name} changing the desired "
               f"capacity from {group.desired} to {desired}.")
        with self.changing(group.account):
            adapter.set_desired_capacity(group.account, group.region, group.name, desired, why)
        self.last_activity[group.key] = time.monotonic()

    def _tracked(self, policy, group, alarm, latest: dict) -> int | None:
        warmup = warmup_of(policy, group)
        warmed = [m for m in group.live if self.clock.elapsed(self.notified.since(group.account, m.id)) >= warmup]
        values = [latest[(group.account, m.id)] for m in warmed if (group.account, m.id) in latest]
        if not values:
            return None
        wanted = min(group.max_size, max(group.min_size, capacity_for(len(values), sum(values) / len(values),
                                                                      policy.target)))
        high = alarm.comparison.startswith("GreaterThan")
        if high:
            return wanted if wanted > group.desired else None
        if policy.disable_scale_in or len(warmed) < len(group.live):
            return None
        return wanted if wanted < group.desired else None

    def _simple(self, policy, group) -> int | None:
        last = self.last_activity.get(group.key)
        if last is not None and self.clock.elapsed(last) < cooldown_of(policy, group):
            return None
        return simple_capacity(policy, group)
