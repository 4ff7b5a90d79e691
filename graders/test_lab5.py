"""Lab 5 graders: a CloudFront distribution in front of lab 4's load balancer, its /updates/* behaviour
that caches and its default one that does not, deployed, the load balancer admitting only CloudFront,
and, live, the app answering through the distribution with the second fetch of an update file a hit.

What is judged is what the learner configured (the distribution whose origin is the load balancer's
DNS name, its behaviours and policies, LoadBalancerSG's rules); step 5.6 asks the distribution over
HTTP(S), on AWS and on the sandbox (whose CloudFront caches and forwards as AWS's does). The checks are
pure functions of the collected data, so tests judge mistakes on recorded inventories too.
"""

from __future__ import annotations

import fnmatch

import pytest

from graders.plugin import Problems, fail, note

LAB = "5"
LB_SG, LOAD_BALANCER = "LoadBalancerSG", "Web-Application-ALB"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
MANAGED_NAMES = {
    CACHING_OPTIMIZED: "Managed-CachingOptimized", CACHING_DISABLED: "Managed-CachingDisabled",
    "b2884449-e4de-46a7-ac36-70bc7f1ddd6d": "Managed-CachingOptimizedForUncompressedObjects",
    "83da9c7e-98b4-4e11-a168-04f0df8e2c65": "UseOriginCacheControlHeaders",
    "4cc15a8a-d715-48a4-82b8-cc0b614638fe": "UseOriginCacheControlHeaders-QueryStrings",
    ALL_VIEWER: "Managed-AllViewer", "b689b0a8-53d0-40ab-baf2-68738e2966ac": "Managed-AllViewerExceptHostHeader",
    "59781a5b-3903-41f3-afcb-af62929ccde1": "Managed-CORS-CustomOrigin",
    "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf": "Managed-CORS-S3Origin",
    "acba4595-bd28-49b8-b9fe-13317c0390fa": "Managed-UserAgentRefererHeaders",
}
MANAGED_DEFAULT_TTL = {CACHING_OPTIMIZED: 86400, CACHING_DISABLED: 0, "b2884449-e4de-46a7-ac36-70bc7f1ddd6d": 86400,
                       "83da9c7e-98b4-4e11-a168-04f0df8e2c65": 0, "4cc15a8a-d715-48a4-82b8-cc0b614638fe": 0}
A_DAY = 86400
ALL_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
UPDATE_FILE = "/updates/2.5.0/employee-directory-2.5.0.pkg"
WORLD = ("0.0.0.0/0", "::/0")


def pattern_matches(pattern: str, path: str) -> bool:
    """CloudFront's path pattern test: case-sensitive `*` and `?`, a leading / optional."""
    pattern = pattern if pattern.startswith("/") else "/" + pattern
    return fnmatch.fnmatchcase(path, pattern.replace("[", "[[]"))


def policy_name(inventory, pid: str) -> str:
    if not pid:
        return "none"
    custom = {**inventory["cache_policies"], **inventory["origin_request_policies"]}
    return MANAGED_NAMES.get(pid) or custom.get(pid, {}).get("name") or pid


def default_ttl(inventory, behaviour: dict) -> int:
    """How long the behaviour keeps an answer without Cache-Control: its cache policy's DefaultTTL, or the legacy one."""
    pid = behaviour["cache_policy"]
    if not pid:
        return int(behaviour["legacy_ttl"].get("default") or 0)
    if pid in MANAGED_DEFAULT_TTL:
        return MANAGED_DEFAULT_TTL[pid]
    found = inventory["cache_policies"].get(pid, {})
    return int(found.get("default_ttl") or 0)


class Lab5:
    """The learner's lab 5 as the graders see it: the load balancer and the distribution in front of it."""

    def __init__(self, inventory):
        self.inventory = inventory

    @property
    def balancer(self) -> dict | None:
        return next((b for b in self.inventory["load_balancers"] if b["name"] == LOAD_BALANCER), None)

    @property
    def dns(self) -> str:
        return (self.balancer or {}).get("dns", "")

    def origin_of(self, distribution: dict) -> dict | None:
        return next((o for o in distribution["origins"] if o["domain"].lower() == self.dns.lower()), None)

    @property
    def distribution(self) -> dict | None:
        """The distribution whose origin is the load balancer (an enabled one first)."""
        found = [d for d in self.inventory["distributions"] if self.dns and self.origin_of(d)]
        found.sort(key=lambda d: (not d["enabled"], d["id"]))
        return found[0] if found else None


@pytest.fixture
def lab(inventory) -> Lab5:
    lab = Lab5(inventory)
    if lab.balancer is None:
        fail("no_balancer", region=inventory["region"])
    return lab


@pytest.fixture
def distribution(lab) -> dict:
    if lab.distribution is None:
        fail("no_distribution_yet")
    return lab.distribution


def origin_problems(lab: Lab5) -> list[tuple[str, dict]]:
    distribution = lab.distribution
    if distribution is None:
        seen = sorted({o["domain"] for d in lab.inventory["distributions"] for o in d["origins"]})
        return [("no_distribution", {"dns": lab.dns, "found": ", ".join(seen[:3])})]
    origin, facts = lab.origin_of(distribution), {"id": distribution["id"]}
    if not origin["custom"]:
        return [("not_custom", {"origin": origin["domain"], **facts})]
    found = []
    if origin["protocol"] != "http-only":
        found.append(("origin_protocol", {"got": origin["protocol"], **facts}))
    if origin["http_port"] not in (80, None):
        found.append(("origin_port", {"got": origin["http_port"], **facts}))
    return found


def _raise(found: list[tuple[str, dict]]) -> None:
    problems = Problems()
    for key, facts in found:
        problems.add(key, **facts)
    problems.check()


@pytest.mark.step("5.1")
def test_distribution_in_front_of_the_load_balancer(lab):
    _raise(origin_problems(lab))


def updates_problems(lab: Lab5, distribution: dict) -> list[tuple[str, dict]]:
    facts = {"id": distribution["id"]}
    behaviour = next((b for b in distribution["behaviours"] if pattern_matches(b["pattern"], UPDATE_FILE)
                      and not pattern_matches(b["pattern"], "/")), None)
    if behaviour is None:
        return [("no_behaviour", {"found": ", ".join(b["pattern"] for b in distribution["behaviours"]), **facts})]
    facts["pattern"] = behaviour["pattern"]
    found = []
    origin = next((o for o in distribution["origins"] if o["id"] == behaviour["origin"]), None)
    if origin is None or origin["domain"].lower() != lab.dns.lower():
        found.append(("wrong_origin", {"got": origin["domain"] if origin else behaviour["origin"], **facts}))
    ttl = default_ttl(lab.inventory, behaviour)
    if behaviour["cache_policy"] != CACHING_OPTIMIZED and ttl < A_DAY:
        found.append(("short_cache", {"policy": policy_name(lab.inventory, behaviour["cache_policy"]) if
                                      behaviour["cache_policy"] else "legacy settings", "ttl": ttl, **facts}))
    if not set(behaviour["methods"]) <= READ_METHODS:
        found.append(("wrong_methods", {"methods": ", ".join(behaviour["methods"]), **facts}))
    if not behaviour["compress"]:
        found.append(("no_compress", facts))
    return found


@pytest.mark.step("5.2")
def test_updates_behaviour_caches_for_a_day(lab, distribution):
    _raise(updates_problems(lab, distribution))


def default_problems(lab: Lab5, distribution: dict) -> list[tuple[str, dict]]:
    behaviour, facts = distribution["default"], {"id": distribution["id"]}
    found = []
    origin = next((o for o in distribution["origins"] if o["id"] == behaviour["origin"]), None)
    if origin is None or origin["domain"].lower() != lab.dns.lower():
        found.append(("default_origin", {"got": origin["domain"] if origin else behaviour["origin"], **facts}))
    if behaviour["cache_policy"] != CACHING_DISABLED:
        found.append(("caches_pages", {"policy": policy_name(lab.inventory, behaviour["cache_policy"]) if
                                       behaviour["cache_policy"] else "legacy settings", **facts}))
    if behaviour["origin_request_policy"] != ALL_VIEWER:
        found.append(("no_all_viewer", {"policy": policy_name(lab.inventory, behaviour["origin_request_policy"])
                                        if behaviour["origin_request_policy"] else "", **facts}))
    if set(behaviour["methods"]) != ALL_METHODS:
        found.append(("few_methods", {"methods": ", ".join(behaviour["methods"]), **facts}))
    return found


@pytest.mark.step("5.3")
def test_default_behaviour_passes_the_app_through(lab, distribution):
    _raise(default_problems(lab, distribution))


@pytest.mark.step("5.4")
def test_distribution_deployed_and_enabled(lab, distribution):
    facts = {"id": distribution["id"]}
    if not distribution["enabled"]:
        fail("disabled", **facts)
    if distribution["status"] != "Deployed":
        fail("deploying", status=distribution["status"] or "not deployed", **facts)


def covers_80(rule: dict) -> bool:
    return rule["protocol"] in ("-1", "tcp", "6") and (
        rule["protocol"] == "-1" or rule["from"] is None or rule["from"] <= 80 <= (rule["to"] if rule["to"] is not None else 80))


def protection_problems(lab: Lab5) -> list[tuple[str, dict]]:
    groups = {g["id"]: g for g in lab.inventory["security_groups"]}
    used = [groups[g] for g in lab.balancer["security_groups"] if g in groups]
    prefix_list = lab.inventory["prefix_list"]
    found = []
    ours = [g for g in used if g["name"] == LB_SG] or used
    if not any(covers_80(r) and prefix_list and prefix_list in r["prefix_lists"] for g in ours for r in g["ingress"]):
        found.append(("no_prefix_rule", {"group": ours[0]["name"] if ours else LB_SG, "prefix_list": prefix_list}))
    for g in used:
        world = next((c for r in g["ingress"] if covers_80(r) for c in r["cidrs"] if c in WORLD), None)
        if world:
            found.append(("world_open", {"group": g["name"], "cidr": world}))
    return found


@pytest.mark.step("5.5")
def test_origin_admits_only_cloudfront(lab):
    _raise(protection_problems(lab))


def live_problems(probe: dict) -> list[tuple[str, dict]]:
    if probe["home"]["status"] != 200 or probe["app"] != "employee-directory":
        return [("no_answer", {"url": probe["url"], "error": probe["app_error"] or probe["home"]["error"],
                               "status": probe["home"]["status"]})]
    first, second = probe["file"]
    if first["status"] != 200 or second["status"] != 200:
        failed = first if first["status"] != 200 else second
        return [("file_failed", {"url": probe["file_url"], "error": failed["error"], "status": failed["status"]})]
    if not second["x_cache"].lower().startswith(("hit ", "refreshhit ")):
        return [("not_cached", {"url": probe["file_url"], "got": second["x_cache"]})]
    return []


@pytest.mark.step("5.6")
def test_the_distribution_serves_and_caches(lab, distribution):
    probe = lab.inventory["probe"]
    if probe["method"] != "http":
        if probe.get("target") not in ("aws", "embedded"):
            note("runtime_unchecked", target=probe["target"])
            return
        fail("no_answer", url=f"https://{distribution['domain']}/", error=probe.get("why", ""), status="")
    _raise(live_problems(probe))
