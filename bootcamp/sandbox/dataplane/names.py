"""The names this machine reaches the sandbox's instances and load balancers by (pure: no moto, no network).

curl and browsers send every *.localhost name to 127.0.0.1 (RFC 6761), where the sandbox's
edge answers for the instance or load balancer the name stands for.
"""

from __future__ import annotations

import re

PUBLIC_ZONE = "compute.localhost"
ELB_ZONE = "elb.localhost"
PORT_PREFIX = re.compile(r"^(\d{1,5})--(.+)$")  # `8080--NAME`: the name's port 8080, not 80


def public_dns_name(ip: str, region: str) -> str:
    """An instance's PublicDnsName on the sandbox: ec2-54-214-1-2.us-west-2.compute.localhost."""
    return f"ec2-{ip.replace('.', '-')}.{region}.{PUBLIC_ZONE}"


def balancer_dns_name(name: str, region: str, lb_id: str, internal: bool) -> str:
    """A load balancer's DNSName on the sandbox, as AWS shapes it (`NAME-DIGITS.REGION.elb.amazonaws.com`,
    `internal-` first for an internal one): Web-Application-ALB-1234567890.us-west-2.elb.localhost.

    The digits come from the load balancer's id (its ARN), so the name survives a restore unchanged.
    """
    digits = int(lb_id, 16) % 10**10 if re.fullmatch(r"[0-9a-fA-F]+", lb_id or "") else 1
    return f"{'internal-' if internal else ''}{name}-{digits}.{region}.{ELB_ZONE}"


def split_host(host: str) -> tuple[str, int | None]:
    """A Host header's name, lower case and without its port or trailing dot, and the port it names
    with a `PORT--` prefix (None without one: port 80, as the sandbox's port stands for)."""
    name = host.strip().lower()
    if name.startswith("["):
        return name, None
    name = name.rsplit(":", 1)[0] if ":" in name else name
    name = name.rstrip(".")
    found = PORT_PREFIX.match(name)
    if found and 0 < int(found.group(1)) < 65536:
        return found.group(2), int(found.group(1))
    return name, None


def is_balancer_name(name: str) -> bool:
    return name.endswith("." + ELB_ZONE)


CLOUDFRONT_ZONE = "cloudfront.localhost"


def distribution_domain(distribution_id: str) -> str:
    """A distribution's DomainName on the sandbox, as AWS shapes it (`d` and 13 letters and digits, then
    `.cloudfront.net`): d1a2b3c4d5e6f7.cloudfront.localhost. Made from its id, so a restore keeps it."""
    import hashlib

    number, letters = int(hashlib.sha256(distribution_id.encode()).hexdigest(), 16), []
    for _ in range(13):
        number, digit = divmod(number, 36)
        letters.append("0123456789abcdefghijklmnopqrstuvwxyz"[digit])
    return f"d{''.join(letters)}.{CLOUDFRONT_ZONE}"


def is_distribution_name(name: str) -> bool:
    return name.endswith("." + CLOUDFRONT_ZONE)
