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
