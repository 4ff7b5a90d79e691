"""The one door to moto's state: plain, frozen views for the data plane's loops, and its hooks.

Nothing outside this module imports moto. Views are copies: a loop may keep one as long as it
likes, and moto's objects never leak out. Reads run beside request threads that change the
same dicts, so every collection is copied before it is walked, and a pass that still meets a
change in flight (RuntimeError) simply reads nothing this time: the next pass reads again.
"""

from __future__ import annotations

import datetime
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


# --- balancer ---------------------------------------------------------------------------------
# Load balancers, their listeners and target groups as the balancer and health loops read them;
# the hooks that make DNSName a name this machine reaches and DescribeTargetHealth the real health.

@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    az: str
    cidr: str


@dataclass(frozen=True)
class Action:
    """A listener's action: forward (target groups and weights), fixed-response or redirect."""

    type: str
    target_groups: tuple[tuple[str, int], ...] = ()
    status: int = 0  # fixed-response, redirect (301/302)
    content_type: str = ""
    body: str = ""
    location: dict = field(default_factory=dict)  # redirect: Protocol, Host, Port, Path, Query


@dataclass(frozen=True)
class Condition:
    field: str  # path-pattern, host-header, http-request-method
    values: tuple[str, ...]


@dataclass(frozen=True)
class Rule7:
    """A listener rule (layer 7): the lowest priority whose conditions all match acts."""

    priority: int
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str
    actions: tuple[Action, ...]  # the default rule's
    rules: tuple[Rule7, ...]  # by priority


@dataclass(frozen=True)
class Balancer:
    account: str
    region: str
    arn: str
    name: str
    dns: str
    scheme: str  # internet-facing, internal
    type: str  # application, network
    vpc_id: str
    subnets: tuple[Subnet, ...]
    security_groups: tuple[str, ...]
    listeners: tuple[Listener, ...]

    @property
    def zones(self) -> frozenset[str]:
        return frozenset(s.az for s in self.subnets)

    def target_groups(self) -> frozenset[str]:
        """The target groups any of its listeners' actions forward to."""
        return frozenset(arn for li in self.listeners for action in
                         (*li.actions, *(a for r in li.rules for a in r.actions))
                         for arn, _ in action.target_groups)


@dataclass(frozen=True)
class Target:
    id: str
    port: int
    since: float  # wall-clock time (time.time()) it was registered, or deregistered for a draining one


@dataclass(frozen=True)
class TargetGroup:
    account: str
    region: str
    arn: str
    name: str
    vpc_id: str
    target_type: str
    protocol: str
    port: int
    check_enabled: bool
    check_protocol: str
    check_port: str  # "traffic-port" or a number
    check_path: str
    interval: int
    timeout: int
    healthy: int
    unhealthy: int
    matcher: str  # "200", "200,302", "200-299"
    deregistration_delay: int
    targets: tuple[Target, ...]
    draining: tuple[Target, ...]


@dataclass(frozen=True)
class GroupSource:
    """An inbound rule that names a source security group (as AWS's SG referencing)."""

    protocol: str
    from_port: int | None
    to_port: int | None
    group: str


def _elbv2_backends():
    from moto.elbv2.models import elbv2_backends

    for account, regions in list(elbv2_backends.items()):
        for region, backend in list(regions.items()):
            yield account, region, backend


def _lb_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _action(a) -> Action:
    data = getattr(a, "data", {}) or {}
    kind = str(data.get("Type", getattr(a, "type", "")) or "").lower()
    if kind == "forward":
        groups = [(g["TargetGroupArn"], int(g.get("Weight", 1)))
                  for g in (data.get("ForwardConfig") or {}).get("TargetGroups", []) if g.get("TargetGroupArn")]
        if not groups and data.get("TargetGroupArn"):
            groups = [(data["TargetGroupArn"], 1)]
        return Action("forward", tuple(groups))
    if kind == "fixed-response":
        config = data.get("FixedResponseConfig") or {}
        return Action(kind, status=int(config.get("StatusCode", 200) or 200),
                      content_type=config.get("ContentType", "text/plain") or "text/plain",
                      body=config.get("MessageBody", "") or "")
    if kind == "redirect":
        config = dict(data.get("RedirectConfig") or {})
        code = str(config.pop("StatusCode", "HTTP_301"))
        return Action(kind, status=302 if code.endswith("302") else 301, location=config)
    return Action(kind)


def _condition(c) -> Condition:
    data = c if isinstance(c, dict) else getattr(c, "__dict__", {})
    kind = str(data.get("Field", "") or "")
    config = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig",
              "http-request-method": "HttpRequestMethodConfig"}.get(kind, "")
    values = list((data.get(config) or {}).get("Values", []) or data.get("Values", []) or [])
    return Condition(kind, tuple(str(v) for v in values))


def _listener(li) -> Listener:
    rules = []
    for rule in list(li._non_default_rules.values()):
        try:
            priority = int(rule.priority)
        except (TypeError, ValueError):
            continue
        rules.append(Rule7(priority, tuple(_condition(c) for c in (rule.conditions or [])),
                           tuple(_action(a) for a in (rule.actions or []))))
    return Listener(port=int(li.port or 0), protocol=(li.protocol or "").upper(),
                    actions=tuple(_action(a) for a in (li.default_actions or [])),
                    rules=tuple(sorted(rules, key=lambda r: r.priority)))


def _balancer(account: str, region: str, b) -> Balancer:
    return Balancer(
        account=account, region=region, arn=b.arn, name=b.name, dns=b.dns_name, scheme=b.scheme,
        type=b.type, vpc_id=b.vpc_id or "",
        subnets=tuple(Subnet(s.id, s.vpc_id, s.availability_zone, s.cidr_block) for s in list(b.subnets)),
        security_groups=tuple(b.security_groups or ()),
        listeners=tuple(_listener(li) for li in list(b.listeners.values())))


def balancers(account: str | None = None, region: str | None = None) -> list[Balancer]:
    found = []
    for acct, where, backend in _elbv2_backends():
        if (account is None or acct == account) and (region is None or where == region):
            try:
                found += [_balancer(acct, where, b) for b in list(backend.load_balancers.values())]
            except RuntimeError:  # a dict changed under us: the next pass reads again
                continue
    return found


def balancer_by_dns(name: str, region: str) -> Balancer | None:
    """The load balancer whose DNSName is `name` (any case), in any account of that region."""
    name = name.lower()
    for account, where, backend in _elbv2_backends():
        if where != region:
            continue
        for b in list(backend.load_balancers.values()):
            if b.dns_name.lower() == name:
                return _balancer(account, where, b)
    return None


def _number(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _target_group(account: str, region: str, g) -> TargetGroup:
    registered = getattr(g, "_bootcamp_registered", {})
    draining = getattr(g, "_bootcamp_draining", {})
    return TargetGroup(
        account=account, region=region, arn=g.arn, name=g.name, vpc_id=g.vpc_id or "",
        target_type=g.target_type or "instance", protocol=(g.protocol or "").upper(), port=_number(g.port, 80),
        check_enabled=bool(g.health_check_enabled), check_protocol=(g.health_check_protocol or "HTTP").upper(),
        check_port=str(g.health_check_port or "traffic-port"), check_path=g.health_check_path or "/",
        interval=_number(g.health_check_interval_seconds, 30), timeout=_number(g.health_check_timeout_seconds, 5),
        healthy=_number(g.healthy_threshold_count, 5), unhealthy=_number(g.unhealthy_threshold_count, 2),
        matcher=str((getattr(g, "matcher", None) or {}).get("HttpCode", "200")),
        deregistration_delay=_number(g.attributes.get("deregistration_delay.timeout_seconds"), 300),
        targets=tuple(Target(t["Id"], _number(t.get("Port"), _number(g.port, 80)), registered.get(t["Id"], 0.0))
                      for t in list(g.targets.values())),
        draining=tuple(Target(i, port, since) for i, (port, since) in list(draining.items())
                       if i not in g.targets))


def target_groups(account: str | None = None, region: str | None = None) -> list[TargetGroup]:
    found = []
    for acct, where, backend in _elbv2_backends():
        if (account is None or acct == account) and (region is None or where == region):
            try:
                found += [_target_group(acct, where, g) for g in list(backend.target_groups.values())]
            except RuntimeError:
                continue
    return found


def subnets(account: str, region: str) -> dict[str, Subnet]:
    from moto.ec2.models import ec2_backends

    backend = ec2_backends.get(account, {}).get(region) if account in ec2_backends else None
    if backend is None:
        return {}
    return {s.id: Subnet(s.id, s.vpc_id, s.availability_zone, s.cidr_block)
            for zone in list(backend.subnets.values()) for s in list(zone.values())}


def group_sources(account: str, region: str) -> dict[str, tuple[GroupSource, ...]]:
    """Each security group's inbound rules that allow another group (by id; a name is resolved)."""
    from moto.ec2.models import ec2_backends

    if account not in ec2_backends or region not in ec2_backends[account]:
        return {}
    groups = [g for by_vpc in list(ec2_backends[account][region].groups.values()) for g in list(by_vpc.values())]
    by_name = {(g.vpc_id, g.name): g.id for g in groups}
    found = {}
    for g in groups:
        rules = []
        for r in list(g.ingress_rules):
            source = r.source_group or {}
            wanted = source.get("GroupId") or by_name.get((g.vpc_id, source.get("GroupName")), "")
            if wanted:
                rules.append(GroupSource(_protocol(r.ip_protocol), r.from_port, r.to_port, wanted))
        if rules:
            found[g.id] = tuple(rules)
    return found


_health = None  # the Health controller: the target health DescribeTargetHealth answers


def observe_health(controller) -> None:
    global _health
    _health = controller


def target_health(account: str, region: str, tg_arn: str) -> list[tuple[str, int, str, str]]:
    """(target id, port, state, reason) of every target of a target group, draining ones too, as
    DescribeTargetHealth answers: the health loop's checks on the sandbox, moto's own answer without it."""
    from moto.elbv2.models import elbv2_backends

    try:
        backend = elbv2_backends[account][region]
        found = backend.describe_target_health(tg_arn, [])
    except (KeyError, Exception):  # noqa: BLE001 (TargetGroupNotFound: no such group, no targets)
        return []
    return [(h.instance_id, _number(h.port, 0), h.status, h.reason or "") for h in found]


def _stamp_registrations() -> None:
    """Registration and deregistration times on the target group (kept with the state), for the
    health loop's initial and draining states."""
    import time

    from moto.elbv2.models import FakeTargetGroup

    register, deregister, terminated = (FakeTargetGroup.register, FakeTargetGroup.deregister,
                                        FakeTargetGroup.deregister_terminated_instances)

    def _maps(self):
        if not hasattr(self, "_bootcamp_registered"):
            self._bootcamp_registered, self._bootcamp_draining = {}, {}
        return self._bootcamp_registered, self._bootcamp_draining

    def stamped_register(self, targets):
        before = set(self.targets)
        register(self, targets)
        registered, draining = _maps(self)
        for t in targets:
            draining.pop(t["Id"], None)
            if t["Id"] not in before or t["Id"] not in registered:
                registered[t["Id"]] = time.time()

    def _drain(self, ids_before: dict):
        registered, draining = _maps(self)
        for target_id, t in ids_before.items():
            if target_id not in self.targets:
                registered.pop(target_id, None)
                draining[target_id] = (_number(t.get("Port"), _number(self.port, 80)), time.time())

    def stamped_deregister(self, targets):
        before = dict(self.targets)
        deregister(self, targets)
        _drain(self, before)

    def stamped_terminated(self, instance_ids):
        before = dict(self.targets)
        terminated(self, instance_ids)
        _drain(self, before)

    FakeTargetGroup.register, FakeTargetGroup.deregister = stamped_register, stamped_deregister
    FakeTargetGroup.deregister_terminated_instances = stamped_terminated


def install_balancer_hooks() -> None:
    """DNSName under .elb.localhost, registration times, and DescribeTargetHealth from the health loop."""
    from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeLoadBalancer, FakeTargetGroup

    if getattr(FakeLoadBalancer, "_bootcamp_hooked", False):
        return
    FakeLoadBalancer._bootcamp_hooked = True
    from bootcamp.sandbox.dataplane.names import balancer_dns_name

    def dns(self):
        region = self.arn.split(":")[3] if self.arn.count(":") >= 5 else ""
        return balancer_dns_name(self.name, region, _lb_id(self.arn), self.scheme == "internal")

    FakeLoadBalancer.dns_name = property(dns, lambda self, value: None)  # moto's own name is not kept
    _stamp_registrations()
    moto_health = FakeTargetGroup.health_for

    def health_for(self, target, ec2_backend):
        answer = None
        if _health is not None:
            view = _target_group(self.account_id, self.region_name, self)
            answer = _health.describe(view, target["Id"], _number(target.get("Port"), 0) or None)
        if answer is None:
            return moto_health(self, target, ec2_backend)
        port, state, reason, description = answer
        return FakeHealthStatus(target["Id"], port, self.health_check_port, state, reason or None, description or None)

    FakeTargetGroup.health_for = health_for
    moto_describe = ELBv2Backend.describe_target_health

    def describe_target_health(self, target_group_arn, targets):
        found = moto_describe(self, target_group_arn, targets)
        if targets or _health is None:
            return found
        group = self.target_groups[target_group_arn]
        draining = [{"Id": i, "Port": port} for i, (port, _) in getattr(group, "_bootcamp_draining", {}).items()
                    if i not in group.targets]
        return found + [h for h in (group.health_for(t, self.ec2_backend) for t in draining)
                        if h.status == "draining"]

    ELBv2Backend.describe_target_health = describe_target_health
