"""The one door to moto's state: plain, frozen views for the data plane's loops, and its hooks.

Nothing outside this module imports moto. Views are copies: a loop may keep one as long as it
likes, and moto's objects never leak out. Reads run beside request threads that change the
same dicts, so every collection is copied before it is walked, and a pass that still meets a
change in flight (RuntimeError) simply reads nothing this time: the next pass reads again.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass, field

from bootcamp.sandbox.dataplane import placement
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
    memo: dict = field(default_factory=dict, compare=False, repr=False)  # reach.py's judgements of this view


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
                                cidrs=tuple(c for c in (r.ip_range.get("CidrIp"),) if c)
                                + prefix_list_cidrs(backend, r.prefix_list_id))
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


def _lean(account: str, region: str, backend, i) -> Instance:
    """An instance's view without its user data: what the edge, the balancer and the health checks need,
    on every request (decoding a user data of the project's, its app's archive inside, costs ~0.2 ms)."""
    options = i.metadata_options
    return Instance(
        account=account, region=region, id=i.id, state=i._state.name, user_data="",
        public_ip=i.public_ip or "", public_dns=i.public_dns_name or "", private_ip=i.private_ip or "",
        subnet_id=i.subnet_id or "", vpc_id=i.vpc_id or "", security_groups=_groups_of(i),
        az=i._placement.zone or "", role_arn=_role_of(backend, i.id),
        http_tokens=options.http_tokens, http_endpoint=options.http_endpoint,
        boots=getattr(i, "_bootcamp_boots", 1))


def routed_instance(region: str | None, ip: str) -> Instance | None:
    """instance_by_public_ip without the user data: the live instance holding this public address."""
    found = [f for f in _moto_instances(region) if f[3].public_ip == ip and f[3]._state.name != "terminated"]
    found.sort(key=lambda f: f[3]._state.name != "running")
    return _lean(*found[0]) if found else None


def target_instance(account: str, region: str, instance_id: str) -> Instance | None:
    """An instance of one account and region by id, without its user data (a target's)."""
    from moto.ec2.models import ec2_backends

    try:
        backend = ec2_backends[account][region]
        for reservation in list(backend.reservations.values()):
            for i in list(reservation.instances):
                if i.id == instance_id:
                    return _lean(account, region, backend, i)
    except (KeyError, RuntimeError):
        return None
    return None


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


# --- scaling ---------------------------------------------------------------------------------
# Auto Scaling as AWS runs it. moto launches a group's instances all in its first subnet, from
# the template's default version without its instance profile and metadata options, and tells
# nobody what it did; the hooks below launch each instance into the AZ the group has fewest in,
# with everything the group's launch template version (or launch configuration) says, take a
# scale-in from the AZ it has most in, and keep AWS's scaling activities. The scaling loop
# (scaling.py) reads groups through `groups()` and acts through the functions after it.

import json as _json  # noqa: E402  (this section's own needs, kept with it)
import threading as _threading  # noqa: E402
import uuid as _uuid  # noqa: E402

GROUP_TAG = "aws:autoscaling:groupName"
GONE_STATES = ("shutting-down", "terminated")
_why = _threading.local()  # what a request asked for, while moto launches or terminates for it
# A request's launches and terminations and the loop's are made one at a time, so the loop never
# sees a group half-way through a request's replacement and launches a second one.
_groups_lock = _threading.RLock()


def _serialised(function):
    def serialised(*args, **kwargs):
        with _groups_lock:
            return function(*args, **kwargs)

    serialised.__name__ = function.__name__
    serialised.__doc__ = function.__doc__
    return serialised


@dataclass(frozen=True)
class Member:
    """One instance of an Auto Scaling group, as the group and EC2 see it."""

    id: str
    az: str
    subnet_id: str
    lifecycle: str = "InService"  # InService, Standby, ...
    health: str = "Healthy"  # the group's view: Healthy or Unhealthy
    state: str = "running"  # EC2's: pending, running, stopped, terminated, ...
    protected: bool = False  # from scale-in
    launched: float = 0.0  # seconds since the epoch


@dataclass(frozen=True)
class Group:
    account: str
    region: str
    name: str
    desired: int
    health_check_type: str = "EC2"  # EC2 or ELB
    grace: int = 0  # HealthCheckGracePeriod, AWS seconds
    target_groups: tuple[str, ...] = ()
    suspended: frozenset[str] = frozenset()
    members: tuple[Member, ...] = ()  # every instance the group holds, stopped and terminated ones too
    launch_failed: bool = False  # whether its latest launch failed (in a request, say)
    arn: str = ""
    min_size: int = 0
    max_size: int = 0
    default_warmup: int | None = None  # DefaultInstanceWarmup, None when not set
    default_cooldown: int = 300

    @property
    def key(self) -> tuple[str, str, str]:
        return self.account, self.region, self.name

    @property
    def live(self) -> tuple[Member, ...]:
        """The members that are pending or running (the ones with CPU, the ones target tracking counts)."""
        return tuple(m for m in self.members if m.state in ("pending", "running"))


def _as_backends():
    from moto.autoscaling.models import autoscaling_backends

    for account, regions in list(autoscaling_backends.items()):
        for region, backend in list(regions.items()):
            yield account, region, backend


def _member(state) -> Member:
    i = state.instance
    return Member(id=i.id, az=i.placement.zone or "", subnet_id=i.subnet_id or "", lifecycle=state.lifecycle_state,
                  health=state.health_status, state=i._state.name, protected=bool(state.protected_from_scale_in),
                  launched=i.launch_time.timestamp() if hasattr(i.launch_time, "timestamp") else 0.0)


def groups() -> list[Group]:
    """Every Auto Scaling group of every account and region, with its members."""
    found = []
    for account, region, backend in _as_backends():
        try:
            for g in list(backend.autoscaling_groups.values()):
                warmup = getattr(g, "default_instance_warmup", None)
                found.append(Group(
                    account=account, region=region, name=g.name, desired=int(g.desired_capacity or 0),
                    health_check_type=g.health_check_type or "EC2", grace=int(g.health_check_grace_period or 0),
                    target_groups=tuple(g.target_group_arns),
                    members=tuple(_member(s) for s in list(g.instance_states)), launch_failed=_launch_failed(g),
                    suspended=frozenset(p["ProcessName"] for p in g.suspended_processes), arn=g.arn,
                    min_size=int(g.min_size or 0), max_size=int(g.max_size or 0),
                    default_warmup=None if warmup in (None, "", -1) else int(warmup),
                    default_cooldown=int(g.default_cooldown or 300)))
        except RuntimeError:  # changed under us: the next pass reads again
            continue
    return found


def _launch_failed(group) -> bool:
    launches = [a for a in list(group.__dict__.get("bootcamp_activities", [])) if a["Description"].startswith("Launching a new EC2 instance")]
    return bool(launches) and launches[-1]["StatusCode"] == "Failed"


def _moto_group(account: str, region: str, name: str):
    from moto.autoscaling.models import autoscaling_backends

    if account not in autoscaling_backends or region not in autoscaling_backends[account]:
        return None
    return autoscaling_backends[account][region].autoscaling_groups.get(name)


# - what a launch is made of -

def _truthy(value) -> bool | None:
    return None if value is None else str(value).lower() == "true"


def launch_spec(group) -> dict:
    """RunInstances' arguments for one instance of this group: its launch template version (or
    launch configuration) in full, where moto passed only the AMI, type, user data and names of
    security groups."""
    spec = {"image_id": group.image_id, "user_data": group.user_data, "instance_type": group.instance_type,
            "security_group_names": [], "security_group_ids": [], "profile": {}, "metadata_options": {},
            "associate_public_ip": None, "launch_template": None, "launch_config": group.launch_config,
            "version": None, "key_name": None}
    if group.ec2_launch_template is not None:
        version = group.ec2_launch_template.get_version(group.launch_template_version)
        data = version.data
        interface = next((n for n in data.get("NetworkInterfaces") or [] if int(n.get("DeviceIndex", 0)) == 0), {})
        spec.update(
            security_group_names=list(data.get("SecurityGroups") or []),
            security_group_ids=list(data.get("SecurityGroupIds") or interface.get("Groups") or []),
            profile=dict(data.get("IamInstanceProfile") or {}),
            metadata_options=dict(data.get("MetadataOptions") or {}),
            associate_public_ip=_truthy(interface.get("AssociatePublicIpAddress")), version=version.number,
            launch_template={"LaunchTemplateId": group.ec2_launch_template.id, "Version": str(version.number)},
            key_name=data.get("KeyName"))
    elif group.launch_config is not None:
        config = group.launch_config
        profile = config.iam_instance_profile or ""
        spec.update(security_group_names=list(config.security_groups or []),
                    profile={"Arn": profile} if profile.startswith("arn:") else ({"Name": profile} if profile else {}),
                    metadata_options=dict(config.metadata_options or {}) if isinstance(config.metadata_options, dict)
                    else {}, associate_public_ip=_truthy(config.associate_public_ip_address), key_name=config.key_name)
    return spec


def _subnets_of(group) -> list[tuple[str | None, str]]:
    """(subnet id, AZ) where the group may launch, in the order the group names them."""
    if group.vpc_zone_identifier:
        ec2 = group.autoscaling_backend.ec2_backend
        ids = [s.strip() for s in group.vpc_zone_identifier.split(",") if s.strip()]
        return [(s.id, s.availability_zone) for s in ec2.describe_subnets(subnet_ids=ids)]
    return [(None, zone) for zone in group.availability_zones]


def _live_states(group) -> list:
    return [s for s in list(group.instance_states) if s.instance._state.name not in GONE_STATES]


def _now_text() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# - activities (DescribeScalingActivities) -

def _activities(group) -> list[dict]:
    """The group's scaling activities, newest last; kept on moto's group so the store keeps them."""
    return group.__dict__.setdefault("bootcamp_activities", [])


MOST_ACTIVITIES = 200  # per group, the oldest go first


def _record(group, description: str, cause: str, details: dict, status: str = "Successful",
            message: str = "", activity_id: str = "") -> dict:
    now = datetime.datetime.now(datetime.timezone.utc)
    activity = {"ActivityId": activity_id or str(_uuid.uuid4()), "AutoScalingGroupName": group.name,
                "AutoScalingGroupARN": group.arn, "Description": description, "Cause": cause,
                "StartTime": now, "EndTime": now, "StatusCode": status, "Progress": 100,
                "Details": _json.dumps(details, separators=(",", ":"))}
    if message:
        activity["StatusMessage"] = message
    kept = _activities(group)
    kept.append(activity)
    del kept[:-MOST_ACTIVITIES]
    for listener in list(_activity_listeners):
        try:
            listener(group.account_id, group.region, group.name, dict(activity))
        except Exception as exc:  # a listener's trouble is not the launch's
            print(f"dataplane: an activity listener failed: {exc!r}", flush=True)
    return activity


_activity_listeners: list = []


def watch_activities(listener) -> None:
    """Call listener(account, region, group name, activity) for every activity from now on (a
    launch: Description "Launching a new EC2 instance: i-...", StatusCode Successful or Failed; a
    termination: "Terminating EC2 instance: i-..."), e.g. to send the group's notifications."""
    if listener not in _activity_listeners:
        _activity_listeners.append(listener)


def _because(text_of):
    """Within the block, a launch or termination moto makes is explained by `text_of(group)`
    (what the request asked for, as AWS's Cause begins), then by what it did."""

    class Because:
        def __enter__(self):
            self.before = getattr(_why, "text_of", None)
            _why.text_of = text_of

        def __exit__(self, *exc):
            _why.text_of = self.before

    return Because()


def _request_part(group) -> str:
    text_of = getattr(_why, "text_of", None)
    text = text_of(group) if text_of else ""
    return f"At {_now_text()} {text}  " if text else ""


def _zone_details(instance) -> dict:
    details = {"Subnet ID": instance.subnet_id} if instance.subnet_id else {}
    details["Availability Zone"] = instance.placement.zone
    return details


# - launching one instance where AWS would -

def launch_one(group, propagated_tags: dict, capacity: tuple[int, int] | None = None) -> str | None:
    """Launch one instance of the group into the AZ it has fewest in (the balance AWS keeps);
    the new id, or None when the launch failed (a failed activity says why). `capacity`: the
    batch's (from, to), which each of its activities names as AWS's do."""
    from moto.autoscaling.models import InstanceState
    from moto.ec2.utils import filter_iam_instance_profiles


    ec2 = group.autoscaling_backend.ec2_backend
    taken = [(s.instance.subnet_id, s.instance.placement.zone) for s in _live_states(group)]
    subnet_id, zone = placement.next_subnet(_subnets_of(group), taken)
    spec = launch_spec(group)
    before = len(group.active_instances())
    start, end = capacity or (before, before + 1)
    request = _request_part(group)
    profile = None
    try:
        if spec["profile"]:
            profile = filter_iam_instance_profiles(ec2.account_id, ec2.partition, spec["profile"].get("Arn"),
                                                   spec["profile"].get("Name"))
            if profile is None:
                raise ValueError("the instance profile's name and ARN name two profiles")
        tags = {**propagated_tags, GROUP_TAG: group.name, **group.instance_tags}
        reservation = ec2.run_instances(
            spec["image_id"], 1, spec["user_data"], spec["security_group_names"],
            instance_type=spec["instance_type"], tags={"instance": tags}, placement=zone, region_name=ec2.region_name,
            launch_config=spec["launch_config"], launch_template=spec["launch_template"],
            is_instance_type_default=False, associate_public_ip=spec["associate_public_ip"], subnet_id=subnet_id,
            security_group_ids=spec["security_group_ids"], metadata_options=spec["metadata_options"],
            key_name=spec["key_name"])
    except Exception as exc:  # AWS's launch fails asynchronously: an activity says why, the loop tries again
        reason = getattr(exc, "message", None) or str(exc)
        if spec["profile"] and profile is None:
            reason = (f"Value ({spec['profile'].get('Name') or spec['profile'].get('Arn')}) for parameter "
                      f"iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
        _record(group, f"Launching a new EC2 instance.  Status Reason: {reason}. Launching EC2 instance failed.",
                f"{request}At {_now_text()} an instance was started in response to a difference between desired "
                f"and actual capacity, increasing the capacity from {start} to {end}.",
                {"Subnet ID": subnet_id, "Availability Zone": zone} if subnet_id else {"Availability Zone": zone},
                status="Failed", message=f"{reason}. Launching EC2 instance failed.")
        return None
    instance = reservation.instances[0]
    if profile is not None:
        ec2.associate_iam_instance_profile(instance_id=instance.id, iam_instance_profile_arn=profile.arn)
    instance.autoscaling_group = group
    protected = group.new_instances_protected_from_scale_in
    group.instance_states.append(InstanceState(instance, protected_from_scale_in=protected))
    _record(group, f"Launching a new EC2 instance: {instance.id}",
            f"{request}At {_now_text()} an instance was started in response to a difference between desired and "
            f"actual capacity, increasing the capacity from {start} to {end}.", _zone_details(instance))
    _register(group, [instance.id])
    return instance.id


def _elbv2(group):
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[group.account_id][group.region]


def _register(group, instance_ids: list[str]) -> None:
    """Register these instances with the group's target groups that exist (on the group's port)."""
    if "AddToLoadBalancer" in {p["ProcessName"] for p in group.suspended_processes}:
        return
    elbv2 = _elbv2(group)
    for arn in list(group.target_group_arns):
        target_group = elbv2.target_groups.get(arn)
        if target_group is not None and instance_ids:
            target_group.register([{"Id": i, "Port": target_group.port} for i in instance_ids])


def _deregister(group, instance_ids: list[str]) -> None:
    """Take these instances out of the group's target groups, as a terminated target goes (draining)."""
    elbv2 = _elbv2(group)
    for arn in list(group.target_group_arns):
        target_group = elbv2.target_groups.get(arn)
        if target_group is not None:
            target_group.deregister_terminated_instances(instance_ids)


def _terminated(group, states: list, cause_of) -> None:
    """Record the termination of these members (cause_of(instance) -> the Cause's own part)."""
    request = _request_part(group)
    for state in states:
        instance = state.instance
        _record(group, f"Terminating EC2 instance: {instance.id}", f"{request}{cause_of(instance)}",
                _zone_details(instance))


def install_scaling_hooks() -> None:
    """Placement over the AZs, the whole launch template, scale-in from the fullest AZ, activities."""
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup
    from moto.autoscaling.responses import AutoScalingResponse

    if getattr(FakeAutoScalingGroup, "_bootcamp_scaling", False):
        return
    FakeAutoScalingGroup._bootcamp_scaling = True

    def replace_autoscaling_group_instances(self, count_needed, propagated_tags):
        start = len(self.active_instances())
        for _ in range(int(count_needed)):
            launch_one(self, dict(propagated_tags), (start, start + int(count_needed)))

    set_desired = FakeAutoScalingGroup.set_desired_capacity

    def set_desired_capacity(self, new_capacity):
        target = (self.min_size if new_capacity is None else new_capacity) or 0
        active = [s for s in self.active_instances() if not s.protected_from_scale_in]
        surplus = len(self.active_instances()) - int(target)
        before = {id(s): s for s in self.instance_states}
        if surplus > 0 and active and not getattr(self, "mixed_instances_policy", None):
            current = launch_spec(self)["version"]
            order = placement.scale_in_order([(s.instance.id, s.instance.placement.zone, _member(s).launched,
                                             _launched_version(s.instance) == current) for s in active])
            victims = [next(s for s in active if s.instance.id == i) for i in order[:surplus]]
            self.instance_states = victims + [s for s in self.instance_states if s not in victims]
        size = len(self.active_instances())
        set_desired(self, new_capacity)
        kept = {id(s) for s in self.instance_states}
        gone = [s for k, s in before.items() if k not in kept]
        if gone:
            _deregister(self, [s.instance.id for s in gone])
            after = len(self.active_instances())
            _terminated(self, gone, lambda i: (
                f"At {_now_text()} an instance was taken out of service in response to a difference between desired "
                f"and actual capacity, shrinking the capacity from {size} to {after}.  At {_now_text()} instance "
                f"{i.id} was selected for termination."))

    FakeAutoScalingGroup.set_desired_capacity = _serialised(set_desired_capacity)
    FakeAutoScalingGroup.replace_autoscaling_group_instances = _serialised(replace_autoscaling_group_instances)
    notify = AutoScalingBackend.notify_terminate_instances

    def notify_terminate_instances(self, instance_ids):
        for group in list(self.autoscaling_groups.values()):
            hit = [s for s in group.instance_states if s.instance.id in instance_ids]
            _terminated(group, hit, lambda i: (
                f"At {_now_text()} an instance was taken out of service in response to an EC2 health check "
                "indicating it has been terminated or stopped."))
        notify(self, instance_ids)

    AutoScalingBackend.notify_terminate_instances = _serialised(notify_terminate_instances)
    _explain_requests(AutoScalingBackend)
    _user_terminations(AutoScalingBackend)
    AutoScalingResponse.describe_scaling_activities = describe_scaling_activities


def _launched_version(instance) -> int | None:
    value = dict.get(instance.ec2_backend.tags, instance.id, {}).get("aws:ec2launchtemplate:version")
    return int(value) if value and str(value).isdigit() else None


def _explain_requests(backend_class) -> None:
    """What a user request did to the desired capacity, as AWS's Cause begins with it."""
    create, update = backend_class.create_auto_scaling_group, backend_class.update_auto_scaling_group
    set_desired = backend_class.set_desired_capacity

    def create_auto_scaling_group(self, name, *args, **kwargs):
        with _because(lambda g: f"a user request created an AutoScalingGroup changing the desired capacity "
                                f"from 0 to {g.desired_capacity or 0}."):
            return create(self, name, *args, **kwargs)

    def update_auto_scaling_group(self, name, *args, **kwargs):
        group = self.autoscaling_groups.get(name)
        was = group.desired_capacity if group is not None else 0
        with _because(lambda g: f"a user request update of AutoScalingGroup constraints to min: {g.min_size}, "
                                f"max: {g.max_size}, desired: {g.desired_capacity} changing the desired capacity "
                                f"from {was} to {g.desired_capacity}."):
            return update(self, name, *args, **kwargs)

    def set_desired_capacity(self, group_name, desired_capacity):
        group = self.autoscaling_groups.get(group_name)
        was = group.desired_capacity if group is not None else 0
        with _because(lambda g: "a user request explicitly set group desired capacity changing the desired "
                                f"capacity from {was} to {g.desired_capacity}."):
            return set_desired(self, group_name, desired_capacity)

    backend_class.create_auto_scaling_group = create_auto_scaling_group
    backend_class.update_auto_scaling_group = update_auto_scaling_group
    backend_class.set_desired_capacity = set_desired_capacity


def _user_terminations(backend_class) -> None:
    """TerminateInstanceInAutoScalingGroup and DetachInstances: deregistered from the target groups
    and told in the activities, as on AWS (moto did neither)."""
    terminate, detach = backend_class.terminate_instance, backend_class.detach_instances

    def shrinking(group, was: int) -> str:
        now = int(group.desired_capacity or 0)
        return f", shrinking the capacity from {was} to {now}." if now < was else "."

    def detach_instances(self, group_name, instance_ids, should_decrement):
        group = self.autoscaling_groups.get(group_name)
        terminating = getattr(_why, "terminating", False)
        was = int(group.desired_capacity or 0) if group is not None else 0
        leaving = [s for s in group.instance_states if s.instance.id in instance_ids] if group is not None else []
        if leaving:
            _deregister(group, [s.instance.id for s in leaving])
        activities = detach(self, group_name, instance_ids, should_decrement)
        if group is not None and not terminating:
            for state, activity in zip(leaving, activities):
                _record(group, f"Detaching EC2 instance: {state.instance.id}",
                        f"At {_now_text()} instance {state.instance.id} was detached in response to a user request"
                        f"{shrinking(group, was)}", _zone_details(state.instance), activity_id=activity.activity_id)
        return activities

    def terminate_instance(self, instance_id, should_decrement):
        group = next((g for g in self.autoscaling_groups.values()
                      if any(s.instance.id == instance_id for s in g.instance_states)), None)
        was = int(group.desired_capacity or 0) if group is not None else 0
        _why.terminating = True
        try:
            activity = terminate(self, instance_id, should_decrement)
        finally:
            _why.terminating = False
        instance = group.autoscaling_backend.ec2_backend.get_instance(instance_id)
        _record(group, f"Terminating EC2 instance: {instance_id}",
                f"At {_now_text()} instance {instance_id} was taken out of service in response to a user request"
                f"{shrinking(group, was)}", _zone_details(instance), activity_id=activity.activity_id)
        return activity

    backend_class.detach_instances = _serialised(detach_instances)
    backend_class.terminate_instance = _serialised(terminate_instance)


def describe_scaling_activities(self):
    """DescribeScalingActivities: the group's activities, newest first, in pages, as AWS answers."""
    from moto.core.responses import ActionResult

    name = self._get_param("AutoScalingGroupName")
    wanted = set(self._get_param("ActivityIds", []) or [])
    groups_ = [g for g in self.autoscaling_backend.autoscaling_groups.values() if not name or g.name == name]
    rows = sorted((a for g in groups_ for a in _activities(g) if not wanted or a["ActivityId"] in wanted),
                  key=lambda a: a["StartTime"], reverse=True)
    token = self._get_param("NextToken")
    start = int(token) if token and str(token).isdigit() else 0
    size = min(max(self._get_int_param("MaxRecords") or 100, 1), 100)
    page = rows[start:start + size]
    more = start + size < len(rows)
    return ActionResult({"Activities": page, "NextToken": str(start + size) if more else None})


# - what the scaling loop does between requests -

@_serialised
def retire(account: str, region: str, group_name: str, instance_id: str, cause: str) -> None:
    """Take an unhealthy member out of service: deregister, terminate (unless EC2 already has), forget."""
    group = _moto_group(account, region, group_name)
    state = next((s for s in list(group.instance_states) if s.instance.id == instance_id), None) if group else None
    if state is None:
        return
    state.health_status = "Unhealthy"
    _deregister(group, [instance_id])
    _terminated(group, [state], lambda i: f"At {_now_text()} {cause}")
    if state.instance._state.name not in GONE_STATES:
        group.autoscaling_backend.ec2_backend.terminate_instances([instance_id])
    group.instance_states = [s for s in group.instance_states if s is not state]


@_serialised
def fill(account: str, region: str, group_name: str) -> tuple[int, int]:
    """Launch what the group lacks of its desired capacity: (launched, lacking)."""
    group = _moto_group(account, region, group_name)
    if group is None:
        return 0, 0
    live = [s for s in _live_states(group) if s.lifecycle_state == "InService"]
    lacking = max(0, int(group.desired_capacity or 0) - len(live))
    batch = (len(live), len(live) + lacking)
    launched = sum(1 for _ in range(lacking) if launch_one(group, group.get_propagated_tags(), batch))
    return launched, lacking


@_serialised
def set_desired_capacity(account: str, region: str, group_name: str, desired: int, why: str) -> bool:
    """Change a group's desired capacity from the data plane (target tracking, say), as
    SetDesiredCapacity does: moto's hooks launch into the emptiest AZ or take from the fullest.
    `why` begins the activities' Cause, e.g. "a monitor alarm TargetTracking-... in state ALARM
    triggered policy cpu-at-30-percent changing the desired capacity from 2 to 3."
    Whether the group exists."""
    group = _moto_group(account, region, group_name)
    if group is None:
        return False
    with _because(lambda g: why):
        group.set_desired_capacity(int(desired))
        group.autoscaling_backend.update_attached_elbs(group.name)
    return True


@_serialised
def trim(account: str, region: str, group_name: str) -> None:
    """Terminate what the group has beyond its desired capacity, as a scale-in would."""
    group = _moto_group(account, region, group_name)
    if group is not None and len(group.active_instances()) > int(group.desired_capacity or 0):
        group.set_desired_capacity(group.desired_capacity)



# --- metrics ---------------------------------------------------------------------------------
# CloudWatch's AWS/EC2 metrics, target tracking's alarms and policies, and the groups' notification
# topics: what the metrics, tracking and notifications loops read and write. Groups, desired
# capacity and scaling activities are the scaling section's (`groups`, `set_desired_capacity`,
# `watch_activities`); the loops' writes hold the account's lock through `DataPlane.changing`.

NAMESPACE = "AWS/EC2"
CPU = "CPUUtilization"
TARGET_TRACKING_ALARM_PERIOD = 60  # AWS's target tracking alarms: 1-minute periods
HIGH_PERIODS, LOW_PERIODS, LOW_RATIO = 3, 15, 0.9  # AlarmHigh 3 of 3 at the target, AlarmLow 15 of 15 at 90% of it
DEFAULT_VCPUS = 1


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
    for account, region, backend in _as_backends():
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
    _cloudwatch(account, region).put_metric_data(NAMESPACE, rows)


def prune_metric_data(account: str, region: str, before: datetime.datetime) -> None:
    """Forget the AWS/EC2 datapoints older than `before` (the list moto keeps grows otherwise)."""
    backend = _cloudwatch(account, region)
    cut = _naive(before)
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
    topic.publish(message, subject=subject)
    return True


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


def install_metrics_hooks() -> None:
    """Target tracking policies keep their alarms (made, updated and deleted with the policy and its
    group, as AWS does: moto 5.2.5 makes none)."""
    from moto.autoscaling.models import AutoScalingBackend
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


# --- views per state version ------------------------------------------------------------------
# The request path (the edge, the balancer) reads an account's network, load balancers, target
# groups and instances on every request; built from moto each time they cost ~0.3 ms a request on
# a quiet machine, several times that on a busy one. A Place holds one account's views in one
# region, each built on first use and then shared (they are frozen), for as long as the account's
# state version stands. The version changes after every API action that may touch the account's
# EC2, ELB or Auto Scaling state (a hook on moto's one action entry, BaseResponse.call_action) and
# after every change a loop makes through this module (the scaling writes above; the metric,
# alarm and SNS writes touch nothing a Place shows). A Place is also dropped when moto's backend
# objects for the account are not the ones it was built from (the store reset or restored the
# account, or moto's own reset emptied everything). So the request after an answered change
# reads the new state. Before the hook is installed nothing is kept: every call builds afresh.

import itertools as _itertools  # noqa: E402
import weakref as _weakref  # noqa: E402

UNVIEWED = frozenset({"dynamodb", "s3", "sts", "cloudwatch", "sns", "sqs", "logs", "ssm"})  # no Place reads them
_changes = _itertools.count(1)  # next() is atomic: two changes at once never leave one version
_versions: dict[str, int] = {}  # account -> the number of its last change
_places: dict[tuple[str, str], "Place"] = {}
_homes: dict[tuple[str, str], str] = {}  # (name or address, region) -> the account it was last found in
_counting = False


def changed(account: str) -> None:
    """An account's state may have changed: its next read builds its views again."""
    _versions[account] = next(_changes)


def install_view_hooks() -> None:
    """Count every API action that may change an account's views, after it has acted."""
    global _counting
    from moto.core.responses import BaseResponse

    if not getattr(BaseResponse.call_action, "_bootcamp_counted", False):
        call_action = BaseResponse.call_action

        def counted_call_action(self):
            try:
                return call_action(self)
            finally:
                if self.service_name not in UNVIEWED:
                    changed(getattr(self, "current_account", "") or "")

        counted_call_action._bootcamp_counted = True
        BaseResponse.call_action = counted_call_action
    _counting = True


def _changing(function):
    """A loop's write through this module: the account's version moves once it is done."""
    @functools.wraps(function)
    def write(account, *args, **kwargs):
        try:
            return function(account, *args, **kwargs)
        finally:
            changed(account)
    return write


retire, fill, set_desired_capacity, trim = (_changing(f) for f in (retire, fill, set_desired_capacity, trim))


def _backend_now(backends, account: str, region: str):
    """moto's backend of an account and region if it exists (never makes one, records no lookup)."""
    regions = dict.get(backends, account)
    return dict.get(regions, region) if regions is not None else None


def _is(ref, backend) -> bool:
    return backend is None if ref is None else ref() is backend


class Place:
    """One account's views in one region, from one state version; `memo` keeps what the request
    path judged from them (a judgement of a view holds as long as the view)."""

    def __init__(self, account: str, region: str, version: int, ec2, elbv2):
        self.account, self.region, self.version = account, region, version
        self._ec2 = _weakref.ref(ec2) if ec2 is not None else None  # weak: a reset account is let go
        self._elbv2 = _weakref.ref(elbv2) if elbv2 is not None else None
        self._made: dict[str, object] = {}
        self.memo: dict = {}

    def holds(self, version: int, ec2, elbv2) -> bool:
        return self.version == version and _is(self._ec2, ec2) and _is(self._elbv2, elbv2)

    def _view(self, name: str, build):
        """A view built on first use and kept for as long as this Place (a race builds it twice, alike)."""
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = build()
        return made

    @property
    def network(self) -> Network:
        return self._view("network", lambda: network(self.account, self.region) if self._ec2 else Network())

    @property
    def sources(self) -> dict[str, tuple[GroupSource, ...]]:
        return self._view("sources", lambda: group_sources(self.account, self.region) if self._ec2 else {})

    @property
    def balancers(self) -> dict[str, Balancer]:
        """By DNS name, lower case."""
        return self._view("balancers", lambda: {b.dns.lower(): b for b in (
            balancers(self.account, self.region) if self._elbv2 else ())})

    @property
    def target_groups(self) -> dict[str, TargetGroup]:
        """By ARN."""
        return self._view("target_groups", lambda: {g.arn: g for g in (
            target_groups(self.account, self.region) if self._elbv2 else ())})

    @property
    def instances(self) -> dict[str, Instance]:
        """By id, without their user data (as target_instance reads them)."""
        return self._view("instances", self._instances)

    def _instances(self) -> dict[str, Instance]:
        backend = self._ec2() if self._ec2 else None
        if backend is None:
            return {}
        for _ in range(3):
            try:
                return {i.id: _lean(self.account, self.region, backend, i)
                        for reservation in list(backend.reservations.values()) for i in list(reservation.instances)}
            except RuntimeError:  # a dict changed under us: a change is under way, read again
                continue
        self.version = -1  # still changing: build this Place again on the next read
        return {}

    @property
    def addresses(self) -> dict[str, Instance]:
        """The live (not terminated) instances by public IPv4 address, a running one first."""
        return self._view("addresses", self._addresses)

    def _addresses(self) -> dict[str, Instance]:
        found: dict[str, Instance] = {}
        for i in sorted(self.instances.values(), key=lambda i: i.state == "running"):
            if i.public_ip and i.state != "terminated":
                found[i.public_ip] = i  # a running one, sorted last, wins
        return found


def place(account: str, region: str) -> Place:
    """The views of one account in one region as its state stands now."""
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends

    version = _versions.get(account, 0)
    ec2, elbv2 = _backend_now(ec2_backends, account, region), _backend_now(elbv2_backends, account, region)
    key = (account, region)
    found = _places.get(key) if _counting else None
    if found is None or not found.holds(version, ec2, elbv2):
        found = Place(account, region, version, ec2, elbv2)
        if _counting:
            _places[key] = found
    return found


def _accounts_in(backends, region: str, first: str | None) -> list[str]:
    """The accounts with a backend in this region, `first` (where a name was last found) first."""
    accounts = [a for a, regions in list(backends.items()) if dict.get(regions, region) is not None]
    if first in accounts:
        accounts.remove(first)
        accounts.insert(0, first)
    return accounts


def find_balancer(name: str, region: str) -> tuple[Balancer | None, Place | None]:
    """balancer_by_dns from the Places: the load balancer whose DNSName is `name`, and its account's views."""
    from moto.elbv2.models import elbv2_backends

    name = name.lower()
    home = _homes.get((name, region))
    if home is not None:  # most requests: the account it was in last time still has it
        views = place(home, region)
        if name in views.balancers:
            return views.balancers[name], views
    for account in _accounts_in(elbv2_backends, region, None):
        views = place(account, region)
        if name in views.balancers:
            _homes[(name, region)] = account
            return views.balancers[name], views
    return None, None


def find_instance(region: str, ip: str) -> tuple[Instance | None, Place | None]:
    """routed_instance from the Places: the live instance holding this public address (a running one
    first, in any account), and its account's views."""
    from moto.ec2.models import ec2_backends

    home = _homes.get((ip, region))
    if home is not None:
        views = place(home, region)
        found = views.addresses.get(ip)
        if found is not None and found.state == "running":
            return found, views
    best: tuple[Instance | None, Place | None] = (None, None)
    for account in _accounts_in(ec2_backends, region, home):
        views = place(account, region)
        found = views.addresses.get(ip)
        if found is not None and (best[0] is None or (found.state == "running" and best[0].state != "running")):
            best = (found, views)
            _homes[(ip, region)] = account
    return best


# --- cloudfront --------------------------------------------------------------------------------
# Distributions as the data plane's CloudFront serves them (bootcamp/sandbox/dataplane/cloudfront.py),
# their policies (kept by bootcamp.sandbox.lab5_apis), and the managed prefix lists a security group
# rule may name (a rule for com.amazonaws.global.cloudfront.origin-facing admits CloudFront's addresses).

ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"


def prefix_list_cidrs(backend, prefix_list_id: str | None) -> tuple[str, ...]:
    """The CIDRs of a managed prefix list (its latest version) that a security group rule names."""
    if not prefix_list_id:
        return ()
    found = backend.managed_prefix_lists.get(prefix_list_id)
    if found is None or not found.entries:
        return ()
    latest = found.entries.get(found.version) or found.entries[max(found.entries, key=lambda v: v or 0)]
    return tuple(e["Cidr"] for e in latest or () if e.get("Cidr"))


def origin_facing_cidrs(account: str, region: str) -> tuple[str, ...]:
    """CloudFront's origin-facing addresses as this account's EC2 lists them in a region."""
    from moto.ec2.models import ec2_backends

    if account not in ec2_backends or region not in ec2_backends[account]:
        return ()
    backend = ec2_backends[account][region]
    found = next((p for p in list(backend.managed_prefix_lists.values()) if p.prefix_list_name == ORIGIN_FACING), None)
    return prefix_list_cidrs(backend, found.id) if found else ()


@dataclass(frozen=True)
class CfPolicy:
    """A cache policy (TTLs, what is in the cache key) or an origin request policy (what is forwarded)."""

    id: str
    min_ttl: int = 0
    default_ttl: int = 0
    max_ttl: int = 0
    headers: str = "none"  # none, whitelist, allViewer, allViewerAndWhitelistCloudFront, allExcept
    header_names: tuple[str, ...] = ()
    cookies: str = "none"
    query_strings: str = "none"


@dataclass(frozen=True)
class CfOrigin:
    id: str
    domain: str
    path: str
    protocol_policy: str  # http-only, https-only, match-viewer ("" for an S3 origin)
    http_port: int
    https_port: int


@dataclass(frozen=True)
class CfBehaviour:
    path_pattern: str  # "" for the default behaviour
    origin_id: str
    viewer_policy: str  # allow-all, redirect-to-https, https-only
    methods: tuple[str, ...]
    cached_methods: tuple[str, ...]
    cache_policy: CfPolicy | None  # None: the legacy settings below
    origin_request_policy: CfPolicy | None
    legacy: CfPolicy


@dataclass(frozen=True)
class Distribution:
    account: str
    id: str
    domain: str
    enabled: bool
    etag: str  # changes with every update: a cache keyed on it forgets what an older config cached
    origins: tuple[CfOrigin, ...]
    behaviours: tuple[CfBehaviour, ...]  # in order, the default one last


def _cf_policy(backend, kind: str, pid: str) -> CfPolicy | None:
    from bootcamp.sandbox import lab5_apis

    if not pid:
        return None
    try:
        entry, _ = lab5_apis.policy(backend, kind, pid)
    except Exception:  # deleted since: AWS refuses that, but read nothing rather than fail
        return None
    config = entry["config"]
    params = config.get("ParametersInCacheKeyAndForwardedToOrigin", config)
    headers = params.get("HeadersConfig", {})
    return CfPolicy(id=pid, min_ttl=int(config.get("MinTTL", 0) or 0), default_ttl=int(config.get("DefaultTTL", 0) or 0),
                    max_ttl=int(config.get("MaxTTL", 0) or 0), headers=headers.get("HeaderBehavior", "none"),
                    header_names=tuple(h.lower() for h in (headers.get("Headers") or {}).get("Items", []) or ()),
                    cookies=params.get("CookiesConfig", {}).get("CookieBehavior", "none"),
                    query_strings=params.get("QueryStringsConfig", {}).get("QueryStringBehavior", "none"))


def _cf_behaviour(backend, b, pattern: str) -> CfBehaviour:
    methods = b.allowed_methods
    forwarded = b.forwarded_values.__dict__ if b.forwarded_values is not None else {}
    headers = (forwarded.get("Headers") or {}).get("Items", []) or []
    legacy = CfPolicy(id="", min_ttl=int(b.min_ttl or 0), default_ttl=int(b.default_ttl or 0), max_ttl=int(b.max_ttl or 0),
                      headers="whitelist" if headers else "none", header_names=tuple(h.lower() for h in headers),
                      query_strings="all" if str(forwarded.get("QueryString", False)).lower() == "true" else "none")
    return CfBehaviour(path_pattern=pattern, origin_id=b.target_origin_id, viewer_policy=b.viewer_protocol_policy,
                       methods=tuple(m.upper() for m in methods.items),
                       cached_methods=tuple(m.upper() for m in methods.cached_methods.get("Items", [])),
                       cache_policy=_cf_policy(backend, "cache", b.cache_policy_id or ""),
                       origin_request_policy=_cf_policy(backend, "origin_request", b.origin_request_policy_id or ""),
                       legacy=legacy)


def _cf_distribution(account: str, backend, d) -> Distribution:
    from bootcamp.sandbox import lab5_apis

    config = d.distribution_config
    origins = []
    for o in config.Origins["Items"]:
        custom = getattr(o, "custom_origin_config", None)
        origins.append(CfOrigin(id=o.id, domain=o.domain_name, path=o.origin_path or "",
                                protocol_policy=getattr(custom, "origin_protocol_policy", "") or "",
                                http_port=int(getattr(custom, "http_port", None) or 80),
                                https_port=int(getattr(custom, "https_port", None) or 443)))
    listed = [_cf_behaviour(backend, b, b.path_pattern) for b in (config.CacheBehaviors.get("Items") or [])]
    return Distribution(account=account, id=d.distribution_id, domain=d.domain_name, enabled=lab5_apis.enabled(config),
                        etag=d.etag, origins=tuple(origins),
                        behaviours=(*listed, _cf_behaviour(backend, config.DefaultCacheBehavior, "")))


def distribution_by_domain(domain: str) -> Distribution | None:
    """The distribution whose DomainName this is (any account: the name is global, as on AWS)."""
    from moto.cloudfront.models import cloudfront_backends

    for account, partitions in list(cloudfront_backends.items()):
        if "aws" not in partitions.keys():
            continue
        backend = partitions["aws"]
        for d in list(backend.distributions.values()):
            if d.domain_name == domain:
                return _cf_distribution(account, backend, d)
    return None
