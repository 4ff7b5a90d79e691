"""Scaling: Auto Scaling groups keep their desired capacity of healthy instances, spread over their AZs.

moto answers the control plane and launches a group's instances when its desired capacity
changes; the adapter's hooks make those launches AWS's (each instance into the AZ the group has
fewest in, with the launch template version's instance profile, metadata options and user data;
a scale-in takes from the AZ it has most in; scaling activities say what happened). This loop
does what AWS's Auto Scaling does between requests, one small idempotent step per group a pass:

- health: a member is unhealthy when the learner said so (SetInstanceHealth), when EC2 says it
  is not running (stopped, terminated: at once), when its status checks stay impaired for
  IMPAIRED_SECONDS (after the grace period), or, with HealthCheckType ELB, when one of the
  group's target groups reports it unhealthy after the grace period (read only through
  `adapter.target_health`, whose states the balancer makes real). An instance without an app
  because of the sandbox's cap (BOOTCAMP_SANDBOX_MAX_APPS) is not replaced: its replacement
  would be in the same state.
- replace: an unhealthy member is terminated (deregistered from the target groups first) and a
  new one launched in the AZ that lost it, desired capacity unchanged;
- capacity: fewer live members than desired (a launch that failed, an instance gone without
  moto telling the group) are launched, retrying a failed launch after RETRY_SECONDS, doubling
  up to RETRY_MOST; more than desired are terminated as a scale-in would (from the fullest AZ).

A member is registered with the group's target groups when it is launched (the adapter's
hook), as on AWS, and not again by this loop: a learner who deregisters one by hand keeps it so.

Grace periods and retries are AWS seconds on the data plane's Clock (BOOTCAMP_SANDBOX_SPEED).
Suspended processes (Launch, Terminate, HealthCheck, ReplaceUnhealthy) are honoured.
"""

from __future__ import annotations

import time

from bootcamp.sandbox.dataplane import adapter, unguarded

IMPAIRED_SECONDS = 60  # AWS seconds of failed status checks before EC2 health says unhealthy
RETRY_SECONDS, RETRY_MOST = 10, 300  # AWS seconds before a failed launch is tried again
NOT_RUNNING = ("stopping", "stopped", "shutting-down", "terminated")

CAUSES = {
    "user": "an instance was taken out of service in response to a user health-check.",
    "state": "an instance was taken out of service in response to an EC2 health check indicating it has been "
             "terminated or stopped.",
    "status": "an instance was taken out of service in response to an EC2 instance status check failure.",
    "elb": "an instance was taken out of service in response to an ELB system health check failure.",
}


def verdict(group: adapter.Group, member: adapter.Member, past_grace: bool, impaired_for: float | None,
            elb_states: list[str]) -> str | None:
    """Why this member is unhealthy (a key of CAUSES), or None. `impaired_for`: AWS seconds its status
    has been impaired (None: not impaired); `elb_states`: its state in each of the group's target groups."""
    if member.lifecycle != "InService":
        return None
    if member.health == "Unhealthy":
        return "user"
    if member.state in NOT_RUNNING:
        return "state"
    if not past_grace:
        return None
    if impaired_for is not None and impaired_for >= IMPAIRED_SECONDS:
        return "status"
    if group.health_check_type.upper() == "ELB" and "unhealthy" in elb_states:
        return "elb"
    return None


def retry_after(failures: int) -> float:
    """AWS seconds before the next launch after this many failed ones in a row."""
    return min(RETRY_MOST, RETRY_SECONDS * 2 ** max(0, failures - 1))


# --- the loop ---------------------------------------------------------------------------------

class Scaling:
    def __init__(self, clock, instances=None, changing=None):
        self.clock = clock
        self.instances = instances  # the Instances controller: whose status is impaired, since when
        self.changing = changing or unguarded  # DataPlane.changing: a change to an account's state
        self.first_seen: dict[tuple[str, str], float] = {}  # member -> when this loop first saw it
        self.impaired_since: dict[tuple[str, str], float] = {}
        self.failures: dict[tuple[str, str, str], tuple[int, float]] = {}  # group -> (failed launches, when)

    def reconcile(self) -> None:
        now = time.monotonic()
        seen = set()
        for group in adapter.groups():
            try:
                self._group(group, now, seen)
            except Exception as exc:  # one group's trouble must not keep the others waiting
                print(f"dataplane: scaling {group.account}/{group.name}: {exc!r}", flush=True)
        for table in (self.first_seen, self.impaired_since):
            for key in [k for k in table if k not in seen]:
                del table[key]

    def _group(self, group: adapter.Group, now: float, seen: set) -> None:
        health = self._elb_health(group) if group.health_check_type.upper() == "ELB" else {}
        sick = []
        for member in group.members:
            key = (group.account, member.id)
            seen.add(key)
            since = self.first_seen.setdefault(key, now)
            past_grace = self.clock.elapsed(since) >= group.grace
            why = verdict(group, member, past_grace, self._impaired_for(key, member, now), health.get(member.id, []))
            if why:
                sick.append((member.id, why))
        if "HealthCheck" in group.suspended:
            sick = [(i, why) for i, why in sick if why == "user"]
        if "ReplaceUnhealthy" in group.suspended:
            sick = []
        live = [m for m in group.members if m.state not in NOT_RUNNING and m.lifecycle == "InService"]
        short = group.desired - (len(live) - sum(1 for i, why in sick if why != "state"))
        name = (group.account, group.region, group.name)
        if group.launch_failed and name not in self.failures:  # it failed in a request: wait before the next
            self.failures[name] = (1, now)
        failed, at = self.failures.get(name, (0, 0.0))
        may_launch = "Launch" not in group.suspended and (not failed or self.clock.elapsed(at) >= retry_after(failed))
        surplus = short < 0 and not sick and "Terminate" not in group.suspended
        if not sick and not (short > 0 and may_launch) and not surplus:
            return
        with self.changing(group.account):
            for instance_id, why in sick:
                adapter.retire(group.account, group.region, group.name, instance_id, CAUSES[why])
            if surplus:
                adapter.trim(group.account, group.region, group.name)
            if may_launch:
                launched, wanted = adapter.fill(group.account, group.region, group.name)
                if launched < wanted:
                    self.failures[name] = (failed + 1, time.monotonic())
                elif wanted:
                    self.failures.pop(name, None)

    def _impaired_for(self, key, member: adapter.Member, now: float) -> float | None:
        impaired = self.instances.impaired(*key) if self.instances is not None and member.state == "running" else None
        if not impaired or impaired is True:  # True: no app because of the cap, which a new instance would share
            self.impaired_since.pop(key, None)
            return None
        return self.clock.elapsed(self.impaired_since.setdefault(key, now))

    @staticmethod
    def _elb_health(group: adapter.Group) -> dict[str, list[str]]:
        states: dict[str, list[str]] = {}
        for arn in group.target_groups:
            for target_id, _port, state, _reason in adapter.target_health(group.account, group.region, arn):
                states.setdefault(target_id, []).append(state)
        return states
