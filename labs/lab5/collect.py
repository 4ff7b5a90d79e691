"""Lab 5 collector: the load balancer (lab 4's), the security groups with their inbound rules, the
CloudFront distributions with their behaviours, the custom cache and origin request policies, the
origin-facing managed prefix list, and the answers through the distribution (on AWS, and on the sandbox
through its CloudFront)."""

from __future__ import annotations

from bootcamp import rehearsal, webapp
from bootcamp.collect import Reader
from bootcamp.inventory import Inventory
from bootcamp.provision import TAG_LAB, name_of, tag_value
from labs.lab4 import collect as lab4

ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
DETAIL_LIMIT = 5
PROBE_FILE = "/updates/2.5.0/release-notes.txt"  # an update file, small: the probe fetches it twice


def collect(reader: Reader) -> Inventory:
    ec2 = reader.client("ec2")
    inv = Inventory()
    inv.fetch("region", lambda: reader.target.region)
    inv.fetch("security_groups", lambda: [_group(g) for g in lab4._all(ec2, "describe_security_groups", "SecurityGroups")])
    inv.fetch("load_balancers", lambda: lab4.load_balancers(reader.client("elbv2")))
    inv.fetch("prefix_list", lambda: next((p["PrefixListId"] for p in ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [ORIGIN_FACING]}])["PrefixLists"]), ""))
    inv.fetch("distributions", lambda: distributions(reader.client("cloudfront")))
    inv.fetch("cache_policies", lambda: policies(reader.client("cloudfront"), "cache"))
    inv.fetch("origin_request_policies", lambda: policies(reader.client("cloudfront"), "origin_request"))
    inv.fetch("probe", lambda: probe(reader, inv))
    return inv


def _group(g: dict) -> dict:
    return {"id": g["GroupId"], "name": g["GroupName"], "vpc": g.get("VpcId", ""), "lab": tag_value(g, TAG_LAB),
            "tag_name": name_of(g),
            "ingress": [{"protocol": str(p.get("IpProtocol", "")), "from": p.get("FromPort"), "to": p.get("ToPort"),
                         "cidrs": [r["CidrIp"] for r in p.get("IpRanges", [])]
                         + [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])],
                         "prefix_lists": [x["PrefixListId"] for x in p.get("PrefixListIds", [])],
                         "groups": [x["GroupId"] for x in p.get("UserIdGroupPairs", []) if x.get("GroupId")]}
                        for p in g.get("IpPermissions", [])]}


def _behaviour(b: dict, pattern: str = "") -> dict:
    methods = b.get("AllowedMethods") or {}
    return {"pattern": b.get("PathPattern", pattern), "origin": b.get("TargetOriginId", ""),
            "viewer": b.get("ViewerProtocolPolicy", ""), "methods": sorted(methods.get("Items") or ["GET", "HEAD"]),
            "cached": sorted((methods.get("CachedMethods") or {}).get("Items") or ["GET", "HEAD"]),
            "cache_policy": b.get("CachePolicyId") or "", "origin_request_policy": b.get("OriginRequestPolicyId") or "",
            "compress": bool(b.get("Compress", False)),
            "legacy_ttl": {"min": b.get("MinTTL"), "default": b.get("DefaultTTL"), "max": b.get("MaxTTL")}}


def distributions(cloudfront) -> list[dict]:
    """Every distribution's summary (ListDistributions holds origins and behaviours: one read)."""
    found = []
    for page in cloudfront.get_paginator("list_distributions").paginate():
        for d in page["DistributionList"].get("Items") or []:
            found.append({
                "id": d["Id"], "arn": d.get("ARN", ""), "domain": d.get("DomainName", ""), "status": d.get("Status", ""),
                "enabled": bool(d.get("Enabled")),
                "origins": [{"id": o["Id"], "domain": o["DomainName"], "custom": "CustomOriginConfig" in o,
                             "protocol": (o.get("CustomOriginConfig") or {}).get("OriginProtocolPolicy", ""),
                             "http_port": (o.get("CustomOriginConfig") or {}).get("HTTPPort")}
                            for o in (d.get("Origins") or {}).get("Items") or []],
                "default": _behaviour(d.get("DefaultCacheBehavior") or {}),
                "behaviours": [_behaviour(b) for b in (d.get("CacheBehaviors") or {}).get("Items") or []]})
    return found


def policies(cloudfront, kind: str) -> dict[str, dict]:
    """The account's own policies of a kind (the managed ones the graders know by id): id -> name, TTLs."""
    if kind == "cache":
        listed = cloudfront.list_cache_policies(Type="custom")["CachePolicyList"].get("Items") or []
        return {p["CachePolicy"]["Id"]: {
            "name": p["CachePolicy"]["CachePolicyConfig"]["Name"],
            "default_ttl": p["CachePolicy"]["CachePolicyConfig"].get("DefaultTTL"),
            "min_ttl": p["CachePolicy"]["CachePolicyConfig"].get("MinTTL"),
            "max_ttl": p["CachePolicy"]["CachePolicyConfig"].get("MaxTTL")} for p in listed}
    listed = cloudfront.list_origin_request_policies(Type="custom")["OriginRequestPolicyList"].get("Items") or []
    return {p["OriginRequestPolicy"]["Id"]: {"name": p["OriginRequestPolicy"]["OriginRequestPolicyConfig"]["Name"]}
            for p in listed}


def viewer_url(target, domain: str) -> str | None:
    """Where this machine asks a distribution over HTTPS (None where none answers: LocalStack)."""
    if target.name == "aws":
        return rehearsal.distribution_url(target.settings.endpoint_url, domain)
    return target.balancer_url(f"443--{domain}")  # the sandbox: its CloudFront on the sandbox's port


def probe(reader: Reader, inv: Inventory) -> dict:
    """The app's home page and settings through the course's distribution, and one update file asked twice."""
    balancer = next((b for b in inv.data.get("load_balancers", []) if b["name"] == lab4.LOAD_BALANCER), None)
    chosen = [d for d in inv.data.get("distributions", []) if d["enabled"] and balancer and any(
        o["domain"].lower() == balancer["dns"].lower() for o in d["origins"])]
    if not chosen:
        return {"method": "none", "target": reader.target.name, "why": "no enabled distribution of the load balancer"}
    base = viewer_url(reader.target, chosen[0]["domain"])
    if base is None:
        return {"method": "none", "target": reader.target.name, "why": "no distribution answers on this target"}
    home = webapp.fetch(f"{base}/")
    asked = webapp.ask(base, employees=False)
    first, second = webapp.fetch(base + PROBE_FILE), webapp.fetch(base + PROBE_FILE)
    return {"method": "http", "target": reader.target.name, "url": f"{base}/", "distribution": chosen[0]["id"],
            "home": {"status": home["status"], "error": home["error"], "x_cache": home["headers"].get("x-cache", "")},
            "app": (asked["settings"] or {}).get("app"), "app_error": asked["error"],
            "file_url": base + PROBE_FILE,
            "file": [{"status": f["status"], "error": f["error"], "x_cache": f["headers"].get("x-cache", ""),
                      "age": f["headers"].get("age", "")} for f in (first, second)]}
