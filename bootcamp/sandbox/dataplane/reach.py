"""Whether a packet gets through a VPC, hop by hop, as AWS judges it (pure: over the adapter's views).

The edge (internet -> instance or load balancer), the balancer (load balancer -> target) and
the health checks (the same path) ask these: the internet gateway and the subnet's routes, the
network ACL both ways (stateless: the reply to the caller's port must be allowed out), and the
security groups (stateful: only the way in), by CIDR or by a source security group (AWS's SG
referencing: a rule naming the load balancer's group lets its nodes in).

A judgement is kept in the view it was made from (`net.memo`): the edge reads one Network per
state version of an account (adapter.Place), so a request after the first judges a path by
dictionary lookups, and any change to the network makes a new view with nothing kept.
"""

from __future__ import annotations

import functools
import ipaddress
from functools import lru_cache

from bootcamp.sandbox.dataplane import adapter

EPHEMERAL_PORT = 40000  # the source port a load balancer node uses towards a target (any of 1024-65535)


@lru_cache(maxsize=4096)
def _network(cidr: str):
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _address(address: str):
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def inside(address: str, cidr: str) -> bool:
    net, ip = _network(cidr), _address(address)
    return net is not None and ip is not None and ip.version == net.version and ip in net


def covers(low, high, port: int) -> bool:
    return low is None or low == -1 or (low <= port <= (high if high is not None else low))


def _kept(judge):
    """`judge(net, *args)` computed once per view and arguments (all hashable), then read from net.memo."""
    name = judge.__name__

    @functools.wraps(judge)
    def kept(net: adapter.Network, *args):
        key = (name, *args)
        try:
            return net.memo[key]
        except KeyError:
            found = net.memo[key] = judge(net, *args)
            return found
    return kept


def node_address(subnet: adapter.Subnet) -> str:
    """The private address the sandbox gives a load balancer's node in a subnet (ten in: AWS keeps the first five)."""
    return _node_address(subnet.cidr)


@lru_cache(maxsize=4096)
def _node_address(cidr: str) -> str:
    net = _network(cidr)
    return str(net.network_address + 10) if net is not None and net.num_addresses > 16 else "10.0.0.10"


def route_table(net: adapter.Network, vpc_id: str, subnet_id: str) -> adapter.RouteTable | None:
    tables = [t for t in net.route_tables if t.vpc_id == vpc_id]
    return (next((t for t in tables if subnet_id in t.subnets), None)
            or next((t for t in tables if t.main), None))


@_kept
def internet_path(net: adapter.Network, vpc_id: str, subnet_id: str, caller: str) -> str:
    """Why the internet does not reach this subnet ('' when it does): an attached internet gateway,
    and the subnet's route table sending the caller's address to it (the longest prefix wins)."""
    igws = [g for g, vpc in net.igw_attachments.items() if vpc == vpc_id]
    if not igws:
        return f"no internet gateway is attached to {vpc_id}"
    table = route_table(net, vpc_id, subnet_id)
    routes = [r for r in (table.routes if table else ()) if inside(caller, r.destination)]
    best = max(routes, key=lambda r: _network(r.destination).prefixlen, default=None)
    if best is None or best.gateway not in igws:
        return (f"route table {table.id if table else '(none)'} of {subnet_id} "
                "has no route to the internet gateway")
    return ""


def acl_allows(net: adapter.Network, vpc_id: str, subnet_id: str, egress: bool, peer: str, port: int) -> bool:
    rules = _acl_rules(net, vpc_id, subnet_id, egress, peer)
    if rules is None:
        return True  # a VPC always has one; moto may not have made it yet
    for all_ports, low, high, allow in rules:
        if all_ports or covers(low, high, port):
            return allow
    return False


@_kept
def _acl_rules(net: adapter.Network, vpc_id: str, subnet_id: str, egress: bool, peer: str):
    """The subnet's ACL entries one way that can match TCP from or to `peer`, by rule number:
    (all ports, from port, to port, allow); None when the VPC has no ACL (yet)."""
    acls = [a for a in net.acls if a.vpc_id == vpc_id]
    acl = (next((a for a in acls if subnet_id in a.subnets), None)
           or next((a for a in acls if a.default), None))
    if acl is None:
        return None
    return tuple((entry.protocol == "-1", entry.from_port, entry.to_port, entry.allow)
                 for entry in sorted((e for e in acl.entries if e.egress == egress), key=lambda e: e.number)
                 if entry.protocol in ("-1", "6", "tcp") and inside(peer, entry.cidr))


def acl_path(net: adapter.Network, vpc_id: str, subnet_id: str, peer: str, port: int, peer_port: int) -> bool:
    """The subnet's ACL lets TCP `port` in from `peer` and the reply out to the peer's port."""
    return (acl_allows(net, vpc_id, subnet_id, False, peer, port)
            and acl_allows(net, vpc_id, subnet_id, True, peer, peer_port))


def group_allows(net: adapter.Network, groups, peer: str, port: int, peer_groups=(), sources=None) -> bool:
    """One of `groups` lets TCP `port` in from `peer`: by CIDR, or by naming one of `peer_groups`."""
    if _cidr_allows(net, tuple(groups), peer, port):
        return True
    wanted = set(peer_groups)
    return bool(wanted) and any(
        r.protocol in ("-1", "tcp") and (r.protocol == "-1" or covers(r.from_port, r.to_port, port))
        and r.group in wanted
        for group in groups for r in (sources or {}).get(group, ()))


@_kept
def _cidr_allows(net: adapter.Network, groups: tuple[str, ...], peer: str, port: int) -> bool:
    return any(r.protocol in ("-1", "tcp") and (r.protocol == "-1" or covers(r.from_port, r.to_port, port))
               and any(inside(peer, c) for c in r.cidrs)
               for group in groups for r in net.ingress.get(group, ()))


def balancer_to_target(net: adapter.Network, sources, balancer: adapter.Balancer, instance: adapter.Instance,
                       port: int) -> str:
    """Why no node of the load balancer reaches TCP `port` of the instance ('' when one does): inside the
    VPC the routes are local; the node's subnet ACL out and back, the target's subnet ACL in and back,
    and the target's security groups (the node's address, or the load balancer's groups by name)."""
    if instance.vpc_id != balancer.vpc_id:
        return f"{instance.id} is not in the load balancer's VPC {balancer.vpc_id}"
    for subnet in balancer.subnets:
        node = node_address(subnet)
        if not (acl_allows(net, balancer.vpc_id, subnet.id, True, instance.private_ip, port)
                and acl_allows(net, balancer.vpc_id, subnet.id, False, instance.private_ip, EPHEMERAL_PORT)):
            continue
        if not acl_path(net, instance.vpc_id, instance.subnet_id, node, port, EPHEMERAL_PORT):
            continue
        if group_allows(net, instance.security_groups, node, port, balancer.security_groups, sources):
            return ""
    if not any(group_allows(net, instance.security_groups, node_address(s), port, balancer.security_groups, sources)
               for s in balancer.subnets):
        return (f"no security group of {instance.id} allows TCP {port} from the load balancer's "
                f"security groups ({', '.join(balancer.security_groups) or 'none'})")
    return f"a network ACL between the load balancer and {instance.id} denies TCP {port}"
