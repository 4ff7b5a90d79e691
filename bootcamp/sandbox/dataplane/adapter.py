"""The one door to moto's state: plain, frozen views for the data plane's loops, and its hooks.

Nothing outside this module imports moto. Views are copies: a loop may keep one as long as it
likes, and moto's objects never leak out. Reads run beside request threads that change the
same dicts, so every collection is copied before it is walked, and a pass that still meets a
change in flight (RuntimeError) simply reads nothing this time: the next pass reads again.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
from dataclasses import dataclass, field

from bootcamp.sandbox.dataplane.names import PUBLIC_ZONE, public_dns_name  # noqa: F401 (the edge's names)


@dataclass(frozen=True)
class Instance:
    account: str
    region: str
    id: str
    state: str
    user_data: str
    public_ip: str
    public_dns: str
    private_ip: str
    subnet_id: str
    vpc_id: str
    security_groups: tuple[str, ...]
    az: str
    role_arn: str  # the instance profile's role, "" without one
    http_tokens: str  # "optional" or "required"
    http_endpoint: str  # "enabled" or "disabled"
    boots: int  # starts and reboots so far: a new boot restarts the app

    @property
    def key(self) -> tuple[str, str]:
        return self.account, self.id


@dataclass(frozen=True)
class Rule:
    """A security group's inbound rule: protocol "-1", "tcp", "udp", "icmp"; ports None for all."""

    protocol: str
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...]


@dataclass(frozen=True)
class AclEntry:
    number: int
    egress: bool
    protocol: str  # "-1", "6", ...
    allow: bool
    cidr: str
    from_port: int | None
    to_port: int | None


@dataclass(frozen=True)
class Acl:
    id: str
    vpc_id: str
    default: bool
    subnets: tuple[str, ...]
    entries: tuple[AclEntry, ...]


@dataclass(frozen=True)
class Route:
    destination: str
    gateway: str  # igw-..., "local", or "" for other targets


@dataclass(frozen=True)
class RouteTable:
    id: str
    vpc_id: str
    main: bool
    subnets: tuple[str, ...]
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class Network:
    """One account's network in one region, as the edge judges a packet by it."""

    vpcs: frozenset[str] = frozenset()
    igw_attachments: dict[str, str] = field(default_factory=dict)  # igw id -> VPC id, attached ones
    route_tables: tuple[RouteTable, ...] = ()
    acls: tuple[Acl, ...] = ()
    ingress: dict[str, tuple[Rule, ...]] = field(default_factory=dict)  # group id -> its inbound rules


# --- reading ---------------------------------------------------------------------------------

def _ec2_backends():
    """(account, region, backend) for every EC2 backend made so far (never makes one)."""
    from moto.ec2.models import ec2_backends

    for account, regions in list(ec2_backends.items()):
        for region, backend in list(regions.items()):
            yield account, region, backend


def _role_of(backend, instance_id: str) -> str:
    association = backend.iam_instance_profile_associations.get(instance_id)
    roles = getattr(getattr(association, "iam_instance_profile", None), "roles", None) or []
    return roles[0].arn if roles else ""


def _groups_of(i) -> tuple[str, ...]:
    """The primary interface's groups (what AWS filters by); moto may name others on the instance."""
    primary = i.nics.get(0)
    groups = list(primary.group_set) if primary is not None else []
    return tuple(sorted({g.id for g in (groups or i.security_groups)}))


def _instance(account: str, region: str, backend, i) -> Instance:
    user_data = ""
    if i.user_data is not None:
        try:
            user_data = i.user_data.decode()
        except (ValueError, UnicodeDecodeError):
            user_data = ""
    options = i.metadata_options
    return Instance(
        account=account, region=region, id=i.id, state=i._state.name, user_data=user_data,
        public_ip=i.public_ip or "", public_dns=i.public_dns_name or "", private_ip=i.private_ip or "",
        subnet_id=i.subnet_id or "", vpc_id=i.vpc_id or "",
        security_groups=_groups_of(i),
        az=i._placement.zone or "", role_arn=_role_of(backend, i.id),
        http_tokens=options.http_tokens, http_endpoint=options.http_endpoint,
        boots=getattr(i, "_bootcamp_boots", 1))


def _moto_instances(region: str | None = None):
    """(account, region, backend, moto instance) for every instance, in one region or all."""
    for account, where, backend in _ec2_backends():
        if region is not None and where != region:
            continue
        try:
            for reservation in list(backend.reservations.values()):
                for i in list(reservation.instances):
                    yield account, where, backend, i
        except RuntimeError:  # a dict changed under us: the next pass reads again
            continue


def instances() -> list[Instance]:
    """Every instance of every account and region (terminated ones too, while moto keeps them)."""
    return [_instance(*found) for found in _moto_instances()]


def running_instances() -> list[Instance]:
    """The running instances only: what the loop reads every pass (moto keeps terminated ones for long)."""
    return [_instance(*found) for found in _moto_instances() if found[3]._state.name == "running"]


def instance_by_id(instance_id: str) -> Instance | None:
    found = next((f for f in _moto_instances() if f[3].id == instance_id), None)
    return _instance(*found) if found else None


def instance_by_public_ip(region: str, ip: str) -> Instance | None:
    """The live instance with this public address in this region (a running one first); only it is read."""
    found = [f for f in _moto_instances(region) if f[3].public_ip == ip and f[3]._state.name != "terminated"]
    found.sort(key=lambda f: f[3]._state.name != "running")
    return _instance(*found[0]) if found else None


def network(account: str, region: str) -> Network:
    """The VPCs, attached gateways, route tables, ACLs and inbound rules of one account and region."""
    from moto.ec2.models import ec2_backends

    if account not in ec2_backends or region not in ec2_backends[account]:
        return Network()
    backend = ec2_backends[account][region]
    attached = {g.id: g.vpc.id for g in list(backend.internet_gateways.values()) if g.vpc is not None}
    tables = tuple(
        RouteTable(id=t.id, vpc_id=t.vpc_id, main=t.main_association_id is not None,
                   subnets=tuple(sorted(list(t._associations.values()))),
                   routes=tuple(Route(r.destination_cidr_block or "",
                                      "local" if r.local else getattr(r.gateway, "id", "") or "")
                                for r in t.routes))
        for t in list(backend.route_tables.values()))
    acls = tuple(
        Acl(id=a.id, vpc_id=a.vpc_id, default=bool(a.default),
            subnets=tuple(sorted(x.subnet_id for x in a.associations)),
            entries=tuple(AclEntry(number=int(e.rule_number), egress=str(e.egress).lower() == "true",
                                   protocol=str(e.protocol), allow=e.rule_action == "allow",
                                   cidr=e.cidr_block or "", from_port=_port(e.port_range_from),
                                   to_port=_port(e.port_range_to))
                          for e in list(a.network_acl_entries)))
        for a in list(backend.network_acls.values()))
    ingress = {g.id: tuple(Rule(protocol=_protocol(r.ip_protocol), from_port=r.from_port, to_port=r.to_port,
                                cidrs=tuple(c for c in (r.ip_range.get("CidrIp"),) if c))
                           for r in list(g.ingress_rules))
               for groups in list(backend.groups.values()) for g in list(groups.values())}
    return Network(vpcs=frozenset(backend.vpcs), igw_attachments=attached, route_tables=tables,
                   acls=acls, ingress=ingress)


def _port(value) -> int | None:
    return None if value in (None, "") else int(value)


def _protocol(value) -> str:
    return {"6": "tcp", "17": "udp", "1": "icmp", "all": "-1", None: "-1"}.get(value, str(value).lower())


def role_credentials(account: str, role_arn: str, session_name: str) -> dict:
    """Fresh keys for a role, issued by the sandbox's STS as EC2 gets them for an instance profile."""
    from moto.sts.models import sts_backends

    role = sts_backends[account]["aws"].assume_role(
        region_name="us-east-1", role_session_name=session_name, role_arn=role_arn,
        policy=None, duration=6 * 3600, external_id=None)
    return {"AccessKeyId": role.access_key_id, "SecretAccessKey": role.secret_access_key,
            "Token": role.session_token, "Expiration": role.expiration}


# --- hooks: what moto says about the world the data plane runs -------------------------------

_observer = None  # the Instances controller: its status and console output per instance


def observe(controller) -> None:
    """Let DescribeInstanceStatus and GetConsoleOutput ask this controller (see install_hooks)."""
    global _observer
    _observer = controller


def _unique_public_ips() -> None:
    """moto draws public IPs from 54.214.0.0/16 at random, so two instances of a class may share one;
    the edge finds an instance by its address, so the sandbox draws again until it is free."""
    from moto.ec2.models import elastic_network_interfaces as enis

    draw = enis.random_public_ip

    def free_public_ip() -> str:
        taken = {f[3].public_ip for f in _moto_instances()}
        for _ in range(100):
            ip = draw()
            if ip not in taken:
                return ip
        return ip

    enis.random_public_ip = free_public_ip


def install_hooks() -> None:
    """PublicDnsName this machine reaches, boots counted, impaired status and console output from the data plane."""
    from moto.ec2.models.instances import Instance as MotoInstance
    from moto.ec2.responses.general import General

    if getattr(MotoInstance, "_bootcamp_hooked", False):
        return
    MotoInstance._bootcamp_hooked = True

    def dns_name(self):
        return public_dns_name(self.public_ip, self.region_name) if self.public_ip else None

    MotoInstance.public_dns_name = property(dns_name)
    _unique_public_ips()

    start, reboot = MotoInstance.start, MotoInstance.reboot

    def counted_start(self):
        was_running = self._state.name == "running"
        previous = start(self)
        if not was_running:
            self._bootcamp_boots = getattr(self, "_bootcamp_boots", 1) + 1
        return previous

    def counted_reboot(self):
        reboot(self)
        self._bootcamp_boots = getattr(self, "_bootcamp_boots", 1) + 1

    MotoInstance.start, MotoInstance.reboot = counted_start, counted_reboot
    ok_status = MotoInstance.instance_status

    def instance_status(self):
        impaired = _observer and self._state.name == "running" and _observer.impaired(self.owner_id, self.id)
        if not impaired:
            return ok_status.fget(self)
        since = impaired if isinstance(impaired, datetime.datetime) else None
        detail = {"Name": "reachability", "Status": "failed"}
        if since:
            detail["ImpairedSince"] = since
        return {"Status": "impaired", "Details": [detail]}

    MotoInstance.instance_status = property(instance_status)
    console = General.get_console_output

    def get_console_output(self):
        from moto.core.responses import ActionResult
        from moto.core.types import Base64EncodedString
        from moto.core.utils import utcnow

        instance_id = self._get_param("InstanceId")
        found = self.ec2_backend.get_instance(instance_id)
        text = _observer.console(self.current_account, found.id) if _observer else None
        if text is None:
            return console(self)
        return ActionResult({"InstanceId": found.id, "Timestamp": utcnow(),
                             "Output": Base64EncodedString.from_raw_string(text)})

    General.get_console_output = get_console_output


# --- metrics ---------------------------------------------------------------------------------
# CloudWatch's AWS/EC2 metrics, target tracking's alarms, desired capacity, scaling activities
# and the groups' notifications: what the metrics, tracking and notifications loops read and write.

NAMESPACE = "AWS/EC2"
CPU = "CPUUtilization"
TARGET_TRACKING_ALARM_PERIOD = 60  # AWS's target tracking alarms: 1-minute periods
HIGH_PERIODS, LOW_PERIODS, LOW_RATIO = 3, 15, 0.9  # AlarmHigh 3 of 3 at the target, AlarmLow 15 of 15 at 90% of it
DEFAULT_VCPUS = 1
_store = None  # the sandbox's Store: the loops' writes take an account's lock and are saved as a request's are


def keep_writes_in(store) -> None:
    """Make the loops' writes to moto's state safe beside requests and dumps, and lasting (issue 15)."""
    global _store
    _store = store


@contextlib.contextmanager
def _writing(account: str, services: tuple[str, ...] = ("autoscaling",), lasting: bool = True):
    """Hold the account's lock while a loop writes, as a writing request does; then mark what it changed.

    Metric datapoints are not marked (`lasting=False`): a dump a period per account would cost
    more than the datapoints are worth; they are saved with the account's next change.
    """
    if _store is None or getattr(_store, "folder", None) is None:
        yield
        return
    from bootcamp.sandbox.store import unit_of

    with _store.account_lock(account):
        yield
    if lasting:
        _store.mark({(account, unit_of(s)) for s in services})


@dataclass(frozen=True)
class Member:
    id: str
    az: str
    subnet_id: str


@dataclass(frozen=True)
class Group:
    account: str
    region: str
    name: str
    arn: str
    min_size: int
    max_size: int
    desired: int
    default_warmup: int | None  # DefaultInstanceWarmup, None when not set
    default_cooldown: int
    members: tuple[Member, ...]
    gone: tuple[str, ...] = ()  # instances the group still holds that were stopped or terminated under it

    @property
    def key(self) -> tuple[str, str, str]:
        return self.account, self.region, self.name


@dataclass(frozen=True)
class Policy:
    account: str
    region: str
    group: str
    name: str
    arn: str
    type: str  # TargetTrackingScaling, SimpleScaling, ...
    metric: str  # the predefined metric type of a target tracking policy, "" otherwise
    target: float
    warmup: int | None  # EstimatedInstanceWarmup, None when not set
    disable_scale_in: bool
    enabled: bool
    adjustment_type: str
    adjustment: int | None
    cooldown: int | None


@dataclass(frozen=True)
class Alarm:
    account: str
    region: str
    name: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    state: str
    actions: tuple[str, ...]
    actions_enabled: bool
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    description: str = ""
    arn: str = ""


def _naive(when: datetime.datetime) -> datetime.datetime:
    """moto keeps metric timestamps as naive UTC."""
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return when


def vcpus(instance_type: str) -> int:
    """The vCPUs of an instance type, from moto's table of EC2's types (1 for a type it does not know)."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    info = INSTANCE_TYPES.get(instance_type, {}).get("VCpuInfo", {})
    return int(info.get("DefaultVCpus") or DEFAULT_VCPUS)


def running_vcpus() -> dict[tuple[str, str], int]:
    """(account, instance id) -> vCPUs of every running instance."""
    return {(found[0], found[3].id): vcpus(found[3].instance_type)
            for found in _moto_instances() if found[3]._state.name == "running"}


def instance_vcpus(account: str, instance_id: str) -> int:
    found = next((f for f in _moto_instances() if f[0] == account and f[3].id == instance_id), None)
    return vcpus(found[3].instance_type) if found else DEFAULT_VCPUS


def _autoscaling_backends():
    from moto.autoscaling.models import autoscaling_backends

    for account, regions in list(autoscaling_backends.items()):
        for region, backend in list(regions.items()):
            yield account, region, backend


def _group_view(account: str, region: str, g) -> Group:
    states = list(g.instance_states)
    members = tuple(Member(id=s.instance.id, az=s.instance.placement.zone or "", subnet_id=s.instance.subnet_id or "")
                    for s in states if s.instance._state.name in ("pending", "running"))
    gone = tuple(s.instance.id for s in states if s.instance._state.name not in ("pending", "running"))
    warmup = getattr(g, "default_instance_warmup", None)
    return Group(account=account, region=region, name=g.name, arn=g.arn, min_size=int(g.min_size or 0),
                 max_size=int(g.max_size or 0), desired=int(g.desired_capacity or 0),
                 default_warmup=None if warmup in (None, "", -1) else int(warmup),
                 default_cooldown=int(g.default_cooldown or 300), members=members, gone=gone)


def groups() -> list[Group]:
    """Every Auto Scaling group of every account and region, with its live members."""
    found = []
    for account, region, backend in _autoscaling_backends():
        try:
            found.extend(_group_view(account, region, g) for g in list(backend.autoscaling_groups.values()))
        except RuntimeError:  # changed under us: the next pass reads again
            continue
    return found


def _policy_view(account: str, region: str, p) -> Policy:
    config = p.target_tracking_configuration
    spec = getattr(config, "PredefinedMetricSpecification", None) or {}
    warmup = p.estimated_instance_warmup
    return Policy(account=account, region=region, group=p.auto_scaling_group_name, name=p.name, arn=p.arn,
                  type=p.policy_type, metric=spec.get("PredefinedMetricType", "") if config else "",
                  target=float(getattr(config, "TargetValue", 0) or 0) if config else 0.0,
                  warmup=None if warmup in (None, "") else int(warmup),
                  disable_scale_in=str(getattr(config, "DisableScaleIn", False)).lower() == "true",
                  enabled=getattr(p, "enabled", True) is not False,
                  adjustment_type=p.adjustment_type or "", adjustment=p.scaling_adjustment,
                  cooldown=p.cooldown)


def policy_by_arn(arn: str) -> Policy | None:
    """The scaling policy an alarm action names (moto's policy ARNs differ only by group and name)."""
    for account, region, backend in _autoscaling_backends():
        for p in list(backend.policies.values()):
            if p.arn == arn:
                return _policy_view(account, region, p)
    return None


def _cloudwatch(account: str, region: str):
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account][region]


def put_metric_data(account: str, region: str, data: list[dict]) -> None:
    """Publish AWS/EC2 datapoints, as EC2 does: {"MetricName", "Dimensions", "Timestamp", "Value" or
    "StatisticValues", "Unit"}, timestamps in sandbox time."""
    rows = [{**row, "Timestamp": _naive(row["Timestamp"])} for row in data]
    with _writing(account, lasting=False):
        _cloudwatch(account, region).put_metric_data(NAMESPACE, rows)


def prune_metric_data(account: str, region: str, before: datetime.datetime) -> None:
    """Forget the AWS/EC2 datapoints older than `before` (the list moto keeps grows otherwise)."""
    backend = _cloudwatch(account, region)
    cut = _naive(before)
    with _writing(account, lasting=False):
        backend.metric_data = [m for m in list(backend.metric_data) if m.namespace != NAMESPACE or m.timestamp >= cut]


def statistics(account: str, region: str, alarm: Alarm, start: datetime.datetime,
               end: datetime.datetime) -> list[tuple[datetime.datetime, float, float]]:
    """(period start, the alarm's statistic, sample count) for each period with data, as GetMetricStatistics answers."""
    found = _cloudwatch(account, region).get_metric_statistics(
        alarm.namespace, alarm.metric, _naive(start), _naive(end), alarm.period, [alarm.statistic, "SampleCount"],
        [{"Name": n, "Value": v} for n, v in alarm.dimensions])
    return [(s.timestamp, float(s.get_statistics_for_type(alarm.statistic)), float(s.sample_count))
            for s in found if s.get_statistics_for_type(alarm.statistic) is not None]


def alarms(namespace: str = NAMESPACE, metric: str = CPU) -> list[Alarm]:
    """Every metric alarm on one metric (the ones the sandbox can judge), of every account and region."""
    from moto.cloudwatch.models import cloudwatch_backends

    found = []
    for account, regions in list(cloudwatch_backends.items()):
        for region, backend in list(regions.items()):
            for a in list(backend.alarms.values()):
                if a.namespace != namespace or a.metric_name != metric or not a.statistic:
                    continue
                found.append(Alarm(
                    account=account, region=region, name=a.name, namespace=a.namespace, metric=a.metric_name,
                    dimensions=tuple((d.name, d.value) for d in a.dimensions), statistic=a.statistic,
                    period=int(a.period or 60), evaluation_periods=int(a.evaluation_periods or 1),
                    datapoints_to_alarm=int(a.datapoints_to_alarm or a.evaluation_periods or 1),
                    threshold=float(a.threshold), comparison=a.comparison_operator, state=a.state_value,
                    actions=tuple(a.alarm_actions or ()), actions_enabled=bool(a.actions_enabled),
                    ok_actions=tuple(a.ok_actions or ()),
                    insufficient_data_actions=tuple(a.insufficient_data_actions or ()),
                    description=a.description or "", arn=a.alarm_arn))
    return found


def set_alarm_state(alarm: Alarm, state: str, reason: str, reason_data: str, when: datetime.datetime) -> None:
    """Move an alarm to a state (its history keeps the one before), stamped with sandbox time."""
    found = _cloudwatch(alarm.account, alarm.region).alarms.get(alarm.name)
    if found is None or found.state_value == state:
        return
    with _writing(alarm.account, ("cloudwatch",)):
        found.update_state(reason, reason_data, state)
        found.state_updated_timestamp = _naive(when)


@functools.lru_cache(maxsize=64)
def region_name(region: str) -> str:
    """A region's long name as AWS's messages write it ("US West (Oregon)"), from botocore's endpoints."""
    from botocore.loaders import Loader

    for partition in Loader().load_data("endpoints")["partitions"]:
        if region in partition["regions"]:
            return partition["regions"][region].get("description", region)
    return region


def set_desired_capacity(account: str, region: str, group: str, desired: int) -> None:
    """Change a group's desired capacity, as SetDesiredCapacity does: Auto Scaling (moto, or the
    scaling loop) launches or terminates toward it; the caller launches nothing itself."""
    from moto.autoscaling.models import autoscaling_backends

    with _writing(account):
        autoscaling_backends[account][region].set_desired_capacity(group, desired)


def notification_topics(account: str, region: str, group: str) -> list[tuple[str, tuple[str, ...]]]:
    """(topic ARN, notification types) of a group's notification configurations (lab4_apis keeps them)."""
    from moto.autoscaling.models import autoscaling_backends

    backend = autoscaling_backends.get(account, {}).get(region) if account in autoscaling_backends else None
    configurations = backend.__dict__.get("bootcamp_notification_configurations", {}) if backend else {}
    return [(topic, types) for (name, topic), types in list(configurations.items()) if name == group]


def publish(account: str, region: str, topic_arn: str, message: str, subject: str) -> bool:
    """Publish to an SNS topic (its subscribers receive it); False when the topic is gone."""
    from moto.sns.models import sns_backends

    topic = sns_backends[account][region].topics.get(topic_arn)
    if topic is None or topic.fifo_topic:
        return False
    with _writing(account, ("sns", "sqs")):
        topic.publish(message, subject=subject)
    return True


def _activities(backend) -> list[dict]:
    """The scaling activities of one account and region, oldest first, kept on moto's backend (a reset forgets them)."""
    return backend.__dict__.setdefault("bootcamp_scaling_activities", [])


def record_activity(account: str, region: str, activity: dict, keep: int = 1000) -> None:
    """Keep one scaling activity (DescribeScalingActivities' fields) for DescribeScalingActivities."""
    from moto.autoscaling.models import autoscaling_backends

    with _writing(account):
        kept = _activities(autoscaling_backends[account][region])
        kept.append(dict(activity))
        del kept[:-keep]


def activities(account: str, region: str, group: str = "") -> list[dict]:
    from moto.autoscaling.models import autoscaling_backends

    if account not in autoscaling_backends or region not in autoscaling_backends[account]:
        return []
    return [dict(a) for a in list(_activities(autoscaling_backends[account][region]))
            if not group or a["AutoScalingGroupName"] == group]


def _target_tracking_alarms(backend, policy, account: str, region: str) -> None:
    """Make or update a target tracking policy's alarms on ASGAverageCPUUtilization as AWS does."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.moto_api._internal import mock_random

    cloudwatch = cloudwatch_backends[account][region]
    config = policy.target_tracking_configuration
    spec = getattr(config, "PredefinedMetricSpecification", None) or {}
    previous = {a["AlarmName"].split("-Alarm")[-1].split("-")[0]: a["AlarmName"]
                for a in getattr(policy, "alarms", None) or []}
    if spec.get("PredefinedMetricType") != "ASGAverageCPUUtilization":
        _delete_alarms(cloudwatch, policy)
        return
    target = float(getattr(config, "TargetValue", 0) or 0)
    wanted = [("High", target, "GreaterThanThreshold", HIGH_PERIODS)]
    if str(getattr(config, "DisableScaleIn", False)).lower() != "true":
        wanted.append(("Low", round(target * LOW_RATIO, 10), "LessThanThreshold", LOW_PERIODS))
    made = []
    for kind, threshold, comparison, periods in wanted:
        group = policy.auto_scaling_group_name
        name = previous.get(kind) or f"TargetTracking-{group}-Alarm{kind}-{mock_random.uuid4()}"
        old = cloudwatch.alarms.get(name)
        alarm = cloudwatch.put_metric_alarm(
            name=name, namespace=NAMESPACE, metric_name=CPU, comparison_operator=comparison,
            evaluation_periods=periods, datapoints_to_alarm=periods, period=TARGET_TRACKING_ALARM_PERIOD,
            threshold=threshold, statistic="Average",
            description=f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy.arn}.",
            dimensions=[{"Name": "AutoScalingGroupName", "Value": policy.auto_scaling_group_name}],
            alarm_actions=[policy.arn])
        if old is not None:  # an update keeps the state the alarm was in
            alarm.state_value, alarm.state_reason = old.state_value, old.state_reason
            alarm.state_reason_data, alarm.history = old.state_reason_data, old.history
        else:
            alarm.state_value, alarm.state_reason = "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation"
        made.append({"AlarmName": name, "AlarmARN": alarm.alarm_arn})
    for name in set(previous.values()) - {m["AlarmName"] for m in made}:
        cloudwatch.alarms.pop(name, None)
    policy.alarms = made


def _delete_alarms(cloudwatch, policy) -> None:
    for alarm in getattr(policy, "alarms", None) or []:
        cloudwatch.alarms.pop(alarm["AlarmName"], None)
    policy.alarms = []


def describe_scaling_activities(self):
    """DescribeScalingActivities: newest first, one group's or all, by id, in pages of MaxRecords (100 at most)."""
    from moto.core.responses import ActionResult

    wanted = set(self._get_param("ActivityIds", []) or [])
    group = self._get_param("AutoScalingGroupName") or ""
    rows = [a for a in reversed(activities(self.current_account, self.region, group))
            if not wanted or a["ActivityId"] in wanted]
    start = int(self._get_param("NextToken") or 0) if str(self._get_param("NextToken") or "0").isdigit() else 0
    size = min(max(self._get_int_param("MaxRecords") or 100, 1), 100)
    token = str(start + size) if start + size < len(rows) else None
    return ActionResult({"Activities": rows[start:start + size], "NextToken": token})


def install_metrics_hooks() -> None:
    """Target tracking policies keep their alarms (made, updated and deleted with the policy and its
    group, as AWS does: moto 5.2.5 makes none), and DescribeScalingActivities answers what happened."""
    from moto.autoscaling.models import AutoScalingBackend
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.cloudwatch.models import cloudwatch_backends

    if getattr(AutoScalingBackend, "_bootcamp_alarms", False):
        return
    AutoScalingBackend._bootcamp_alarms = True
    put, delete, delete_group = (AutoScalingBackend.put_scaling_policy, AutoScalingBackend.delete_policy,
                                 AutoScalingBackend.delete_auto_scaling_group)

    def put_scaling_policy(self, name, policy_type, *args, **kwargs):
        before = self.policies.get(name)
        policy = put(self, name, policy_type, *args, **kwargs)
        if before is not None:
            policy.alarms = getattr(before, "alarms", [])
        if policy.policy_type == "TargetTrackingScaling":
            _target_tracking_alarms(self, policy, self.account_id, self.region_name)
        elif getattr(policy, "alarms", None):
            _delete_alarms(cloudwatch_backends[self.account_id][self.region_name], policy)
        return policy

    def delete_policy(self, name):
        policy = self.policies.get(name)
        if policy is not None:
            _delete_alarms(cloudwatch_backends[self.account_id][self.region_name], policy)
        return delete(self, name)

    def delete_auto_scaling_group(self, group_name):
        delete_group(self, group_name)
        for name, policy in list(self.policies.items()):  # AWS deletes a group's policies and their alarms
            if policy.auto_scaling_group_name == group_name:
                _delete_alarms(cloudwatch_backends[self.account_id][self.region_name], policy)
                del self.policies[name]

    AutoScalingBackend.put_scaling_policy = put_scaling_policy
    AutoScalingBackend.delete_policy = delete_policy
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group
    AutoScalingResponse.describe_scaling_activities = describe_scaling_activities
