"""The names this machine reaches the sandbox's instances by (pure: no moto, no network)."""

from __future__ import annotations

PUBLIC_ZONE = "compute.localhost"


def public_dns_name(ip: str, region: str) -> str:
    """An instance's PublicDnsName on the sandbox: ec2-54-214-1-2.us-west-2.compute.localhost.

    curl and browsers send every *.localhost name to 127.0.0.1 (RFC 6761), where the sandbox's
    edge answers for the instance.
    """
    return f"ec2-{ip.replace('.', '-')}.{region}.{PUBLIC_ZONE}"
