"""Target health: each registered target is checked over HTTP as an ALB checks it, and answers AWS's states.

Desired: every target of a target group that a load balancer's listener uses. Each pass starts
the checks that are due (one every HealthCheckIntervalSeconds a target, through the shared
Clock, so BOOTCAMP_SANDBOX_SPEED=N makes them N times more frequent) on a few threads of its
own, so a slow target never holds up the loop. A check is the target group's protocol, port
(traffic-port: the target's), path and timeout (on the Clock too, but never under 2 s: the app
answers in real time), from the load balancer's nodes: it fails with
Target.Timeout where the network would drop it (the target's security groups must allow the
load balancer's, the ACLs both ways) or the target does not answer in time, with
Target.FailedHealthChecks where the connection is refused (no app listens on that port), and
with Target.ResponseCodeMismatch where the status is not in the matcher's success codes.

States and reasons, as DescribeTargetHealth shows them (AWS's):
- initial / Elb.RegistrationInProgress until the first check is done, then
  initial / Elb.InitialHealthChecking until HealthyThresholdCount checks in a row pass
  (-> healthy) or UnhealthyThresholdCount in a row fail (-> unhealthy);
- healthy -> unhealthy after UnhealthyThresholdCount failures in a row (the reason is the last
  failure's), unhealthy -> healthy after HealthyThresholdCount successes in a row;
- unused / Target.NotInUse: no listener forwards to the target group, or the target is in an
  Availability Zone the load balancer has no subnet in (it is not checked);
  unused / Target.InvalidState: the instance is stopped; unused / Target.NotRegistered: asked
  about a target that is not registered;
- unavailable / Target.HealthCheckDisabled: the target group's health checks are off;
- draining / Target.DeregistrationInProgress from a deregistration (or the instance's
  termination) for the target group's deregistration_delay.timeout_seconds; then it is gone.

Check results live in memory: after a restart every target starts again at initial (a pass
or two at the labs' speeds).
"""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bootcamp.sandbox.dataplane import adapter, reach

WORKERS = 4
LEAST_TIMEOUT = 2.0  # seconds: an app answers in real time, however fast the clock runs (at most AWS's own timeout)
USER_AGENT = "ELB-HealthChecker/2.0"
STOPPED = ("stopped", "stopping")

DESCRIPTIONS = {
    "Elb.RegistrationInProgress": "Target registration is in progress",
    "Elb.InitialHealthChecking": "Initial health checks in progress",
    "Target.Timeout": "Request timed out",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.NotInUse": "Target group is not configured to receive traffic from the load balancer",
    "Target.InvalidState": "Target is in the stopped state",
    "Target.NotRegistered": "Target is not registered to the target group",
    "Target.HealthCheckDisabled": "Health checks are disabled",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
}
ZONE_NOT_ENABLED = "Target is in an Availability Zone that is not enabled for the load balancer"


def success_codes(matcher: str, status: int) -> bool:
    """Whether `status` is one of a matcher's codes ("200", "200,302", "200-299")."""
    for part in str(matcher).replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and int(low) <= status <= int(high if high.isdigit() else low):
            return True
    return False


def check_port(group: adapter.TargetGroup, target: adapter.Target) -> int:
    return target.port if group.check_port in ("", "traffic-port") else int(group.check_port)


@dataclass
class Record:
    """One target's checks so far (consecutive successes or failures, and the state they made)."""

    state: str = "initial"
    reason: str = "Elb.RegistrationInProgress"
    description: str = ""
    passes: int = 0
    fails: int = 0
    next_at: float = 0.0  # time.monotonic() of the next check
    busy: bool = False
    static: tuple[str, str, str] | None = field(default=None)  # a state no check decides (unused, ...)
    registered: float = 0.0


class Health:
    def __init__(self, instances, clock):
        self.instances = instances
        self.clock = clock
        self.lock = threading.Lock()
        self.records: dict[tuple[str, str, str, int], Record] = {}  # (account, group arn, target, port)
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="health")

    # --- the loop ------------------------------------------------------------------------------

    def reconcile(self) -> None:
        groups = adapter.target_groups()
        if not groups and not self.records:
            return
        by_place: dict[tuple[str, str], list] = {}
        for b in adapter.balancers():
            by_place.setdefault((b.account, b.region), []).append(b)
        seen = set()
        places: dict[tuple[str, str], tuple] = {}
        for group in groups:
            users = [b for b in by_place.get((group.account, group.region), ()) if group.arn in b.target_groups()]
            for target in group.targets:
                key = (group.account, group.arn, target.id, target.port)
                seen.add(key)
                with self.lock:
                    record = self.records.get(key)
                    if record is None or record.registered != target.since:
                        record = self.records[key] = Record(registered=target.since)
                if (group.account, group.region) not in places:
                    places[(group.account, group.region)] = (adapter.network(group.account, group.region),
                                                             adapter.group_sources(group.account, group.region))
                self._converge(group, target, record, users, *places[(group.account, group.region)])
        with self.lock:
            for key in [k for k in self.records if k not in seen]:
                del self.records[key]

    def _converge(self, group, target, record: Record, users, net, sources) -> None:
        instance = (adapter.target_instance(group.account, group.region, target.id)
                    if group.target_type == "instance" else None)
        static = self._static(group, target, instance, users)
        with self.lock:
            record.static = static
            if static or record.busy or time.monotonic() < record.next_at:
                return
            record.busy = True
            record.next_at = time.monotonic() + self.clock.real(group.interval)
        self.pool.submit(self._check, group, target, record, instance, users, net, sources)

    @staticmethod
    def _static(group, target, instance, users) -> tuple[str, str, str] | None:
        if instance is not None and instance.state in STOPPED:
            return "unused", "Target.InvalidState", f"Target is in the {instance.state} state"
        if not users:
            return "unused", "Target.NotInUse", DESCRIPTIONS["Target.NotInUse"]
        if instance is not None and not any(instance.az in b.zones for b in users):
            return "unused", "Target.NotInUse", ZONE_NOT_ENABLED
        if not group.check_enabled:
            return "unavailable", "Target.HealthCheckDisabled", DESCRIPTIONS["Target.HealthCheckDisabled"]
        return None

    def _check(self, group, target, record: Record, instance, users, net, sources) -> None:
        try:
            failure = self.probe(group, target, instance, users, net, sources)
        except Exception as exc:  # noqa: BLE001 (a check that cannot run is a failed check)
            failure = ("Target.FailedHealthChecks", f"Health checks failed ({exc.__class__.__name__})")
        with self.lock:
            record.busy = False
            if failure is None:
                record.passes, record.fails = record.passes + 1, 0
                if record.passes >= group.healthy:
                    record.state, record.reason, record.description = "healthy", "", ""
            else:
                record.fails, record.passes = record.fails + 1, 0
                if record.fails >= group.unhealthy:
                    record.state, (record.reason, record.description) = "unhealthy", failure
            if record.state == "initial":
                record.reason = "Elb.InitialHealthChecking"

    def timeout(self, group: adapter.TargetGroup) -> float:
        """How long a check waits here: the group's timeout on the clock, but never less than LEAST_TIMEOUT
        (or the group's own timeout, when smaller): a fast clock must not make a busy app time out."""
        return max(self.clock.real(group.timeout), min(float(group.timeout), LEAST_TIMEOUT))

    def probe(self, group, target, instance, users, net, sources) -> tuple[str, str] | None:
        """One health check: None when it passes, else (reason, description)."""
        port = check_port(group, target)
        if instance is None or instance.state != "running":
            return "Target.Timeout", DESCRIPTIONS["Target.Timeout"]
        blocked = [reach.balancer_to_target(net, sources, b, instance, port) for b in users]
        if all(blocked):
            return "Target.Timeout", DESCRIPTIONS["Target.Timeout"]
        if group.check_protocol != "HTTP":  # the apps here speak plain HTTP: a TLS handshake fails
            return "Target.FailedHealthChecks", DESCRIPTIONS["Target.FailedHealthChecks"]
        app = self.instances.app(instance.account, instance.id)
        if app is None or app.proc is None or app.app_port != port or app.instance.boots != instance.boots:
            return "Target.FailedHealthChecks", DESCRIPTIONS["Target.FailedHealthChecks"]
        connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=self.timeout(group))
        try:
            connection.request("GET", group.check_path or "/", headers={
                "Host": f"{instance.private_ip}:{port}", "User-Agent": USER_AGENT, "Connection": "close"})
            status = connection.getresponse().status
        except TimeoutError:
            return "Target.Timeout", DESCRIPTIONS["Target.Timeout"]
        except (OSError, http.client.HTTPException):
            return "Target.FailedHealthChecks", DESCRIPTIONS["Target.FailedHealthChecks"]
        finally:
            connection.close()
        if not success_codes(group.matcher, status):
            return "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{status}]"
        return None

    # --- asked by request threads (DescribeTargetHealth, the balancer) -------------------------

    def describe(self, group: adapter.TargetGroup, target_id: str, port: int | None):
        """(port, state, reason, description) of one target as DescribeTargetHealth shows it, or None
        for moto's own answer (a target this loop knows nothing about)."""
        registered = [t for t in group.targets if t.id == target_id and (port is None or t.port == port)]
        if registered:
            t = registered[0]
            with self.lock:
                record = self.records.get((group.account, group.arn, t.id, t.port))
                if record is None or record.registered != t.since:
                    return t.port, "initial", "Elb.RegistrationInProgress", DESCRIPTIONS["Elb.RegistrationInProgress"]
                if record.static:
                    return (t.port, *record.static)
                return t.port, record.state, record.reason, record.description or DESCRIPTIONS.get(record.reason, "")
        for t in group.draining:
            if t.id == target_id and (port is None or t.port == port):
                if time.time() - t.since < self.clock.real(group.deregistration_delay):
                    reason = "Target.DeregistrationInProgress"
                    return t.port, "draining", reason, DESCRIPTIONS[reason]
                return t.port, "unused", "Target.NotRegistered", DESCRIPTIONS["Target.NotRegistered"]
        return None

    def routable(self, group: adapter.TargetGroup) -> list[adapter.Target]:
        """The targets a load balancer sends requests to: the healthy ones; when every registered target
        is unhealthy, all of them (an ALB fails open); targets whose checks are disabled count as healthy."""
        healthy, unhealthy = [], []
        with self.lock:
            for t in group.targets:
                record = self.records.get((group.account, group.arn, t.id, t.port))
                if record is None or record.registered != t.since:
                    continue
                if record.static:
                    if record.static[0] == "unavailable":
                        healthy.append(t)
                    continue
                (healthy if record.state == "healthy" else unhealthy if record.state == "unhealthy" else []).append(t)
        return healthy or unhealthy

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
