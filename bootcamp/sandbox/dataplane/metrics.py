"""Metrics: each app's real CPU, published as AWS/EC2 CPUUtilization per instance and per group.

Desired: one datapoint a period for every running instance (dimension InstanceId) and every
Auto Scaling group with members (AutoScalingGroupName), as EC2 publishes them. Measured: the
time each app's process tree (the app is a session leader, so its session holds its threads
and the stress action's workers) ran or waited to run (/proc/<pid>/task/<tid>/schedstat),
over the period's real length, as a percentage of the instance type's vCPUs (t3.micro 2,
t2.micro 1; the app burns as many workers as that, told by INSTANCE_VCPUS). Time spent
waiting for this shared machine's cores counts: on EC2 the instance's vCPUs are its own, so a
busy worker there is busy all the time, and a loaded laptop must not make a stressed instance
look idle (measured: a busy loop here got 27 % of a core at load 7, and reads 100 %). Without
schedstat, CPU time only. An instance without an app idles: 0 %.

The period is 60 s, detailed monitoring's: target tracking's alarms judge 1-minute datapoints
(3 for AlarmHigh, 15 for AlarmLow), and on AWS a group scales on 5-minute basic monitoring only
late and coarsely, so the sandbox treats every instance as monitored in detail (documented in
the data plane's docstring). Periods are sandbox time (the shared Clock): at
BOOTCAMP_SANDBOX_SPEED=60 a period lasts one real second, and datapoints carry the sandbox's
timestamps, at the start of their period, as CloudWatch's do. A new instance publishes from its
second sample on (its first minute), and datapoints older than 15 days (1-minute retention) go.
After each period the tracking loop judges the alarms on the new datapoints.
"""

from __future__ import annotations

import datetime
import os
import time

from bootcamp.sandbox.dataplane import adapter, notifications, tracking, unguarded

PERIOD = 60  # seconds of sandbox time: detailed monitoring
RETENTION = datetime.timedelta(days=15)
MOST_MISSED = 15  # periods filled in after a stall: the longest alarm window the sandbox makes
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _task_seconds(path: str) -> float:
    """Seconds a thread ran or waited to run (/proc/.../schedstat), or ran only where schedstat is missing."""
    try:
        with open(f"{path}/schedstat", "rb") as f:
            run, wait = f.read().split()[:2]
        return (int(run) + int(wait)) / 1e9
    except (OSError, ValueError):
        with open(f"{path}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


def session_demand(sessions: set[int], proc: str = "/proc") -> dict[int, dict[int, float]]:
    """For each session (its leader's pid): thread id -> seconds that thread ran or waited to run so far.

    An app is a session leader, so its session holds its threads and the stress action's workers.
    """
    found: dict[int, dict[int, float]] = {s: {} for s in sessions}
    if not sessions:
        return found
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{proc}/{entry.name}/stat", "rb") as f:
                session = int(f.read().rsplit(b")", 1)[1].split()[3])
            if session not in found:
                continue
            for task in os.scandir(f"{proc}/{entry.name}/task"):
                found[session][int(task.name)] = _task_seconds(task.path)
        except (OSError, IndexError, ValueError):
            continue  # it ended while we read
    return found


def spent(before: dict[int, float], now: dict[int, float]) -> float:
    """Seconds the threads ran or waited since `before` (a thread new since then counts from its start;
    one that ended in between is lost for that stretch, less than a period)."""
    return sum(max(0.0, seconds - before.get(tid, 0.0)) for tid, seconds in now.items())


def utilization(seconds: float, wall_seconds: float, vcpus: int) -> float:
    """CPUUtilization: the time the instance's processes ran or wanted to run, over the time its vCPUs had (0-100 %)."""
    if wall_seconds <= 0 or vcpus <= 0:
        return 0.0
    return round(min(100.0, max(0.0, 100.0 * seconds / (wall_seconds * vcpus))), 2)


def group_statistics(values: list[float]) -> dict:
    """A group's datapoint from its members' values: Average is their mean, SampleCount their number."""
    return {"Sum": sum(values), "Minimum": min(values), "Maximum": max(values), "SampleCount": float(len(values))}


class Metrics:
    """The metrics loop: samples the apps' CPU at each period's end, publishes, then lets tracking judge."""

    def __init__(self, clock, instances, changing=unguarded, period: int = PERIOD):
        self.clock = clock
        self.changing = changing  # DataPlane.changing: writes under the account's lock, marked for the store
        self.instances = instances
        self.period = period
        self.index: int | None = None  # the sandbox period under way
        # (account, instance id) -> (app pid, thread id -> seconds, time.monotonic()) at the last sample
        self.samples: dict[tuple[str, str], tuple[int, dict, float]] = {}
        self.latest: dict[tuple[str, str], float] = {}  # (account, id) -> last published CPUUtilization
        self.notifications = notifications.Notifications(changing)  # hears adapter.watch_activities
        self.tracking = tracking.Tracking(clock, self.notifications, changing)

    def reconcile(self) -> None:
        self.notifications.reconcile()
        index = int(self.clock.now().timestamp() // self.period)
        if self.index is None:
            self.index = index
            self._sample()  # a baseline: the first period's datapoints come at its end
            return
        if index == self.index:
            return
        ended = range(max(self.index, index - MOST_MISSED), index)
        self.index = index
        values = self._sample()
        groups = adapter.groups()
        self._publish(values, groups, ended)
        end = self._at(index)
        self.tracking.evaluate(end, groups, self.latest)

    def _at(self, index: int) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(index * self.period, datetime.timezone.utc)

    def _sample(self) -> dict[tuple[str, str, str], float]:
        """(account, region, instance id) -> CPUUtilization since the last sample, for instances sampled before."""
        running = adapter.running_instances()
        cpus = adapter.running_vcpus()
        pids = {}
        for i in running:
            app = self.instances.app(i.account, i.id)
            proc = app.proc if app is not None else None
            pids[i.key] = proc.pid if proc is not None and proc.poll() is None else 0
        used = session_demand({p for p in pids.values() if p})
        now, values, samples = time.monotonic(), {}, {}
        for i in running:
            pid = pids[i.key]
            threads = used.get(pid, {}) if pid else {}
            before = self.samples.get(i.key)
            if before is not None:
                was = before[1] if before[0] == pid else {}  # a restarted app counts from its start
                values[(i.account, i.region, i.id)] = utilization(spent(was, threads), now - before[2],
                                                                  cpus.get(i.key, 1))
            samples[i.key] = (pid, threads, now)
        self.samples = samples
        return values

    def _publish(self, values: dict, groups: list, ended: range) -> None:
        by_place: dict[tuple[str, str], list[dict]] = {}
        for (account, region, instance_id), value in values.items():
            self.latest[(account, instance_id)] = value
            for index in ended:
                by_place.setdefault((account, region), []).append(
                    {"MetricName": adapter.CPU, "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                     "Timestamp": self._at(index), "Value": value, "Unit": "Percent"})
        for group in groups:
            members = [values[(group.account, group.region, m.id)] for m in group.live
                       if (group.account, group.region, m.id) in values]
            if not members:
                continue
            for index in ended:
                by_place.setdefault((group.account, group.region), []).append(
                    {"MetricName": adapter.CPU, "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group.name}],
                     "Timestamp": self._at(index), "StatisticValues": group_statistics(members), "Unit": "Percent"})
        running = {(a, i) for a, _, i in values}
        self.latest = {k: v for k, v in self.latest.items() if k in running}
        oldest = self._at(ended.stop) - RETENTION
        for (account, region), rows in by_place.items():
            # Datapoints are not marked for the store: a dump a period per account would cost more
            # than they are worth; they are saved with the account's next change.
            with self.changing(account, lasting=False):
                adapter.put_metric_data(account, region, rows)
                adapter.prune_metric_data(account, region, oldest)
