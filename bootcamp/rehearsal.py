"""A rehearsal: `--target aws --endpoint-url URL` runs the aws target exactly as against AWS
(the standard credential chain, the account prompt, the free-tier guard, waiters,
iam:SimulatePrincipalPolicy, HTTP probes, the grader role through CloudFormation), every call
sent to an AWS-compatible endpoint, such as the embedded sandbox, instead of AWS.

This module is the one place where a rehearsal must differ from AWS, and why:
- pace: AWS's waiters poll every 15 s and the labs' own loops pause 5-15 s between looks, since
  AWS takes minutes; an endpoint on this machine answers at once, so a rehearsal polls a
  twentieth as long (the same number of looks, so a wait that never ends still ends);
- the probe's address: on AWS an instance's app answers at http://<its public IPv4 address>/ and
  a load balancer's at http://<its DNS name>/. That address is on the internet; on a rehearsal
  this machine plays the internet, through the sandbox's edge: an instance at its public DNS
  name (ec2-a-b-c-d.<region>.compute.localhost) and a load balancer at its DNS name, both on
  the endpoint's port, which stands for port 80 (see the README's "The sandbox's data plane").
  A guide's commands ask the public address itself, as on AWS; a shell that rehearses them has
  the endpoint for its HTTP proxy (`shell_env`), and the sandbox's edge answers for the address.


  the endpoint's port, which stands for port 80 (see the README's "The sandbox's data plane"); a
  CloudFront distribution, which AWS serves at https://<its domain name>, at its `443--` name on that
  port, the sandbox's stand-in for HTTPS.
"""

from __future__ import annotations

from urllib.parse import urlsplit

PACE = 0.05  # a rehearsal's pause, as a share of AWS's
WAITER = {"Delay": 1}  # seconds between a waiter's looks (AWS's: the service model's, mostly 15); as many looks


def pause(aws_seconds: float, rehearsal: bool) -> float:
    """How long to pause between looks where AWS would take `aws_seconds`."""
    return aws_seconds * PACE if rehearsal else aws_seconds


def waiter_config(rehearsal: bool) -> dict:
    """The WaiterConfig for a waiter's wait(): AWS's own (none given) unless rehearsing."""
    return dict(WAITER) if rehearsal else {}


def _port(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f":{parts.port}" if parts.port else ""


def instance_url(endpoint: str | None, public_ip: str, region: str) -> str:
    """Where this machine asks an instance's port 80 by its public address."""
    if not endpoint:
        return f"http://{public_ip}"
    from bootcamp.sandbox.dataplane.names import public_dns_name

    return f"http://{public_dns_name(public_ip, region)}{_port(endpoint)}"


def balancer_url(endpoint: str | None, dns_name: str) -> str:
    """Where this machine asks a load balancer's listener on port 80 by its DNS name."""
    return f"http://{dns_name}{_port(endpoint) if endpoint else ''}"


def shell_env(endpoint: str) -> dict[str, str]:
    """What a shell running a guide's AWS commands on a rehearsal sets: the endpoint for the AWS CLI
    and the lab's tasks, and for its HTTP proxy (curl's http://<public IPv4>/ and http://<a load
    balancer's DNS name>/ go to the endpoint, which answers as the internet would; the endpoint's own
    address goes direct)."""
    host = urlsplit(endpoint).hostname or "127.0.0.1"
    return {"AWS_ENDPOINT_URL": endpoint, "BOOTCAMP_ENDPOINT_URL": endpoint,
            "http_proxy": endpoint, "no_proxy": host}


def distribution_url(endpoint: str | None, domain: str) -> str:
    """Where this machine asks a CloudFront distribution over HTTPS by its DomainName: on AWS https://DOMAIN;
    on a rehearsal the sandbox's CloudFront, whose `443--` name on the endpoint's port stands for HTTPS."""
    return f"http://443--{domain}{_port(endpoint)}" if endpoint else f"https://{domain}"
