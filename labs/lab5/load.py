"""`invoke lab.load 5`: the notes' lesson measured. The same burst of update downloads goes through the
distribution and straight to the load balancer; what reached the app and what the group's CPU did are
printed side by side.

What reached the app: through CloudFront, the answers that say `X-Cache: Miss` or `RefreshHit` (the
edge asked the origin); straight to the load balancer, every answer. The group's CPU: on the sandbox,
the CPU seconds the group's apps spent during each burst (their process trees, as the metrics loop
measures them); on AWS, CloudWatch's CPUUtilization of app-asg, which comes a few minutes late.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from bootcamp import webapp
from bootcamp.errors import BootcampError
from labs.lab4 import provision as lab4
from labs.lab5.collect import viewer_url

UPDATE_FILE = "/updates/2.5.0/employee-directory-2.5.0.pkg"
MOST_REQUESTS = 500


@dataclass
class Burst:
    way: str
    url: str
    requests: int = 0
    answered: int = 0
    reached_origin: int = 0
    megabytes: float = 0.0
    cpu: str = ""
    note: str = ""
    statuses: dict = field(default_factory=dict)


def check_requests(requests) -> int:
    try:
        number = int(requests)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= MOST_REQUESTS:
        raise BootcampError(f"--requests '{requests}' is not a number of requests from 1 to {MOST_REQUESTS}")
    return number


def _distribution(target, dns: str) -> dict:
    pages = target.client("cloudfront").get_paginator("list_distributions").paginate()
    found = [d for page in pages for d in (page["DistributionList"].get("Items") or [])
             if d.get("Enabled") and any(o["DomainName"].lower() == dns.lower() for o in d["Origins"].get("Items") or [])]
    if not found:
        raise BootcampError(f"no enabled CloudFront distribution has {lab4.LOAD_BALANCER} as its origin: do step 5.1 "
                            "(or `invoke lab.solve 5`), then run this again")
    return found[0]


def _apps_cpu(settings, target):
    """A reading of the group's apps' CPU seconds (the sandbox: their process trees on this machine)."""
    if target.name != "embedded":
        return None
    from bootcamp.sandbox import control
    from bootcamp.sandbox.dataplane import metrics

    pids = {a["pid"] for a in control.running_apps(settings, target.account_id) if a.get("pid")}
    return metrics.session_demand(pids)


def _spent(before, after) -> float:
    from bootcamp.sandbox.dataplane import metrics

    return sum(metrics.spent(before.get(s, {}), now) for s, now in after.items())


def _cloudwatch_cpu(target, start: datetime.datetime) -> str:
    """app-asg's CPUUtilization since the burst began, as CloudWatch has it so far."""
    end = datetime.datetime.now(datetime.timezone.utc)
    points = target.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/EC2", MetricName="CPUUtilization", Dimensions=[{"Name": "AutoScalingGroupName", "Value": lab4.GROUP}],
        StartTime=start - datetime.timedelta(minutes=1), EndTime=end + datetime.timedelta(minutes=1), Period=60,
        Statistics=["Maximum"])["Datapoints"]
    if not points:
        return "no datapoint yet (CloudWatch: a few minutes)"
    return f"max {max(p['Maximum'] for p in points):.1f} %"


def burst(way: str, url: str, requests: int, count_origin, settings, target) -> Burst:
    result = Burst(way, url)
    before, started = _apps_cpu(settings, target), datetime.datetime.now(datetime.timezone.utc)
    for n in range(requests):
        answer = webapp.fetch(url, timeout=30)
        result.requests += 1
        if answer["status"] is None:
            result.note = f"no answer ({answer['error'] or 'the connection was closed'})"
            break  # a dropped request: the rest would be too, each after a wait
        result.statuses[answer["status"]] = result.statuses.get(answer["status"], 0) + 1
        if answer["status"] == 200:
            result.answered += 1
            result.megabytes += answer["size"] / 1e6
        result.reached_origin += 1 if count_origin(answer) else 0
    if before is not None:
        result.cpu = f"{_spent(before, _apps_cpu(settings, target)):.2f} CPU s"
    else:
        result.cpu = _cloudwatch_cpu(target, started)
    return result


def _balancer_dns(target) -> str:
    if target.balancer_url("x") is None:
        raise BootcampError(f"the {target.name} target serves no load balancers or distributions: "
                            "use --target embedded (the sandbox) or --target aws")
    found = [b for b in target.client("elbv2").describe_load_balancers()["LoadBalancers"]
             if b["LoadBalancerName"] == lab4.LOAD_BALANCER]
    if not found:
        raise BootcampError(f"no load balancer {lab4.LOAD_BALANCER} in {target.describe()}: run `invoke lab.start 5`")
    return found[0]["DNSName"]


def distribution_url(target) -> str:
    """Where a browser on this machine opens the app through the distribution (`invoke lab.open 5`)."""
    return viewer_url(target, _distribution(target, _balancer_dns(target))["DomainName"]) + "/"


def run(settings, target, requests: int) -> list[Burst]:
    dns = _balancer_dns(target)
    distribution = _distribution(target, dns)
    through = burst("through CloudFront", viewer_url(target, distribution["DomainName"]) + UPDATE_FILE, requests,
                    lambda a: a["headers"].get("x-cache", "").lower().startswith(("miss", "refreshhit")),
                    settings, target)
    direct = burst(f"straight to {lab4.LOAD_BALANCER}", target.balancer_url(dns) + UPDATE_FILE, requests,
                   lambda a: a["status"] is not None, settings, target)
    if direct.note:
        direct.note += ": LoadBalancerSG admits only CloudFront (step 5.5)"
    return [through, direct]


def table(bursts: list[Burst]) -> str:
    """The two bursts side by side, as plain lines (the task prints them)."""
    rows = [("", *[b.way for b in bursts]),
            ("requests sent", *[str(b.requests) for b in bursts]),
            ("answered 200", *[str(b.answered) for b in bursts]),
            ("reached the app", *[str(b.reached_origin) for b in bursts]),
            ("MB downloaded", *[f"{b.megabytes:.1f}" for b in bursts]),
            ("the group's CPU", *[b.cpu for b in bursts])]
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines += [f"{b.way}: {b.note}" for b in bursts if b.note]
    return "\n".join(lines)
