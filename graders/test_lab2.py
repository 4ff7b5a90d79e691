"""Lab 2 graders: the VPC network, the web security group, the instance and the app's answer.

They judge structure (CIDRs, attachments, routes, rules), not the console's generated names:
a differently named VPC, an extra subnet or the VPC's main route table all pass.
"""

from __future__ import annotations

from functools import cached_property

import pytest

from bootcamp.userdata import inspect as inspect_user_data
from graders.plugin import Problems, fail, note

LAB = "2"
VPC_CIDR, SUBNET_1, SUBNET_2 = "10.0.0.0/16", "10.0.0.0/24", "10.0.1.0/24"
WORLD = ("0.0.0.0/0", "::/0")
VPC_NAME, INSTANCE_NAME = "lab-2-vpc", "Web Application"
SG_NAME, SG_TAG = "Web Security Group", "WebAppSG"
INSTANCE_TYPE, AL2023 = "t3.micro", "al2023-ami-"
APP = "employee-directory"


def label(resource: dict) -> str:
    name = resource.get("name")
    return f"{name} ({resource['id']})" if name else resource["id"]


def covers(rule: dict, port: int) -> bool:
    if rule["protocol"] == "-1":
        return True
    return rule["protocol"] in ("tcp", "6") and rule["from"] is not None and rule["from"] <= port <= rule["to"]


def open_to_world(sg: dict, port: int) -> bool:
    return any(covers(r, port) and set(r["cidrs"]) & set(WORLD) for r in sg["ingress"])


class Lab2:
    """The learner's lab 2 as the graders see it: which VPC, subnets, group and instance are theirs."""

    def __init__(self, inventory):
        self.inventory = inventory

    def kind(self, name: str) -> list[dict]:
        """Resources of one kind, minus those another lab's provisioning made."""
        return [r for r in self.inventory[name] if r.get("lab") in ("", LAB)]

    @cached_property
    def instance(self) -> dict | None:
        default = {v["id"] for v in self.kind("vpcs") if v["default"]}
        named = [i for i in self.kind("instances") if i["name"] == INSTANCE_NAME]
        if not named:
            vpc = self._vpc_without_instance()
            named = [i for i in self.kind("instances") if vpc and i["vpc"] == vpc["id"]]
        named.sort(key=lambda i: (i["vpc"] in default, i["state"] != "running"))
        return named[0] if named else None

    @cached_property
    def vpc(self) -> dict | None:
        vpcs = {v["id"]: v for v in self.kind("vpcs") if not v["default"]}
        named = [i for i in self.kind("instances") if i["name"] == INSTANCE_NAME and i["vpc"] in vpcs]
        if named:
            named.sort(key=lambda i: i["state"] != "running")
            return vpcs[named[0]["vpc"]]
        return self._vpc_without_instance()

    def _vpc_without_instance(self) -> dict | None:
        vpcs = [v for v in self.kind("vpcs") if not v["default"]]
        for chosen in ([v for v in vpcs if v["name"] == VPC_NAME], [v for v in vpcs if v["cidr"] == VPC_CIDR],
                       vpcs if len(vpcs) == 1 else []):
            if chosen:
                return chosen[0]
        return None

    def subnet(self, cidr: str) -> dict | None:
        return next((s for s in self.kind("subnets") if self.vpc and s["vpc"] == self.vpc["id"]
                     and s["cidr"] == cidr), None)

    def subnet_by_id(self, subnet_id: str) -> dict | None:
        return next((s for s in self.inventory["subnets"] if s["id"] == subnet_id), None)

    def route_table_of(self, subnet: dict) -> dict | None:
        tables = [t for t in self.inventory["route_tables"] if t["vpc"] == subnet["vpc"]]
        explicit = next((t for t in tables if subnet["id"] in t["subnets"]), None)
        return explicit or next((t for t in tables if t["main"]), None)

    def is_public(self, subnet: dict) -> bool:
        table = self.route_table_of(subnet)
        return bool(table) and routes_to_igw(table)

    @cached_property
    def web_sg(self) -> dict | None:
        groups = [g for g in self.kind("security_groups") if g["name"] != "default"]
        vpc_id = self.vpc["id"] if self.vpc else None
        named = [g for g in groups if g["name"] == SG_NAME or g["tag_name"] == SG_TAG]
        named.sort(key=lambda g: g["vpc"] != vpc_id)
        if named:
            return named[0]
        used = set(self.instance["groups"]) if self.instance else set()
        for chosen in ([g for g in groups if g["id"] in used and g["vpc"] == vpc_id],
                       [g for g in groups if g["vpc"] == vpc_id and open_to_world(g, 80)]):
            if chosen:
                return chosen[0]
        return None


def routes_to_igw(table: dict) -> bool:
    return any(r["destination"] == "0.0.0.0/0" and r["target"].startswith("igw-") for r in table["routes"])


@pytest.fixture
def lab(inventory) -> Lab2:
    return Lab2(inventory)


@pytest.fixture
def vpc(lab) -> dict:
    if lab.vpc is None:
        fail("no_vpc_yet")
    return lab.vpc


@pytest.fixture
def instance(lab) -> dict:
    if lab.instance is None:
        fail("no_instance_yet")
    return lab.instance


@pytest.mark.step("2.1")
def test_vpc(lab):
    vpc = lab.vpc
    if vpc is None:
        others = [f"{label(v)} {v['cidr']}" for v in lab.kind("vpcs") if not v["default"]]
        fail("no_vpc", found=", ".join(others))
    problems = Problems()
    facts = {"vpc": label(vpc), "vpc_id": vpc["id"]}
    if vpc["cidr"] != VPC_CIDR:
        problems.add("wrong_cidr", cidr=vpc["cidr"], **facts)
    for attribute, setting, setting_ko in (("enableDnsHostnames", "DNS hostnames", "DNS 호스트 이름"),
                                           ("enableDnsSupport", "DNS resolution", "DNS 확인")):
        if not vpc.get(attribute):
            problems.add("dns_off", setting=setting, setting_ko=setting_ko, **facts)
    problems.check()


@pytest.mark.step("2.2")
def test_two_public_subnets_in_two_zones(lab, vpc):
    problems = Problems()
    facts = {"vpc": label(vpc), "vpc_id": vpc["id"]}
    found = {cidr: lab.subnet(cidr) for cidr in (SUBNET_1, SUBNET_2)}
    for cidr, subnet in found.items():
        if subnet is None:
            elsewhere = [label(v) for v in lab.kind("vpcs") for s in lab.kind("subnets")
                         if s["cidr"] == cidr and s["vpc"] == v["id"] and v["id"] != vpc["id"]]
            problems.add("missing_subnet", cidr=cidr, elsewhere=", ".join(elsewhere), **facts)
    if all(found.values()) and found[SUBNET_1]["az"] == found[SUBNET_2]["az"]:
        problems.add("same_az", az=found[SUBNET_1]["az"], **facts)
    problems.check()


@pytest.mark.step("2.3")
def test_internet_gateway_attached(lab, vpc):
    gateways = lab.kind("internet_gateways")
    if any(vpc["id"] in g["attached"] for g in gateways):
        return
    detached = sorted((g for g in gateways if not g["attached"]), key=lambda g: g["name"] != "lab-2-igw")
    facts = {"vpc": label(vpc), "vpc_id": vpc["id"]}
    if detached:
        fail("igw_detached", igw=label(detached[0]), igw_id=detached[0]["id"], **facts)
    fail("no_igw", **facts)


@pytest.mark.step("2.4")
def test_public_route_for_both_subnets(lab, vpc):
    subnets = [s for s in (lab.subnet(SUBNET_1), lab.subnet(SUBNET_2)) if s]
    if not subnets:
        fail("no_subnets")
    routed = [t for t in lab.inventory["route_tables"] if t["vpc"] == vpc["id"] and routes_to_igw(t)]
    igw = next((g["id"] for g in lab.kind("internet_gateways") if vpc["id"] in g["attached"]), "<igw-id>")
    problems = Problems()
    for subnet in subnets:
        table = lab.route_table_of(subnet)
        if table is None or not routes_to_igw(table):
            # The fix is one: associate with the table that has the route, or give the route to this one.
            useful = routed[0] if routed else table
            problems.add("no_route", subnet=f"{label(subnet)} {subnet['cidr']}",
                         table=label(table) if table else "none", routed=label(routed[0]) if routed else "",
                         table_id=(useful or {}).get("id", "<rtb-id>"), subnet_id=subnet["id"], igw_id=igw)
    problems.check()


@pytest.mark.step("2.5")
def test_web_security_group_allows_http(lab, vpc):
    sg = lab.web_sg
    if sg is None:
        fail("no_sg", vpc=label(vpc))
    facts = {"sg": label(sg), "sg_id": sg["id"]}
    if sg["vpc"] != vpc["id"]:
        fail("sg_wrong_vpc", its_vpc=sg["vpc"], vpc=label(vpc), **facts)
    if any(r["protocol"] == "-1" and set(r["cidrs"]) & set(WORLD) for r in sg["ingress"]):
        note("all_open", **facts)
    elif open_to_world(sg, 22):
        note("ssh_open", **facts)
    if not open_to_world(sg, 80):
        opens = [f"{r['protocol'].upper()} {r['from']}-{r['to']} from {', '.join(r['cidrs']) or 'a group'}"
                 for r in sg["ingress"]]
        fail("no_http", opens="; ".join(opens), **facts)


@pytest.mark.step("2.6")
def test_web_instance(lab):
    instance = lab.instance
    vpc = lab.vpc
    if instance is None:
        fail("no_instance", vpc=label(vpc) if vpc else "lab-2-vpc")
    problems = Problems()
    facts = {"instance": label(instance)}
    if instance["type"] != INSTANCE_TYPE:
        problems.add("wrong_type", type=instance["type"], **facts)
    if not instance["image_name"].startswith(AL2023):
        problems.add("not_al2023", image=instance["image_name"] or instance["image"], **facts)
    subnet = lab.subnet_by_id(instance["subnet"])
    in_lab_vpc = bool(vpc) and instance["vpc"] == vpc["id"]
    if subnet is None or subnet["cidr"] != SUBNET_1 or not in_lab_vpc:
        problems.add("wrong_subnet", cidr=subnet["cidr"] if subnet else instance["subnet"] or "none",
                     other_vpc=not in_lab_vpc, private=bool(subnet) and not lab.is_public(subnet), **facts)
    if not instance["public_ip"] and instance["state"] == "running":  # a stopped one has none yet: see 2.7
        problems.add("no_public_ip", **facts)
    sg = lab.web_sg
    if sg and sg["id"] not in instance["groups"]:
        problems.add("wrong_sg", sg=label(sg), uses=", ".join(instance["groups"]) or "none", **facts)
    user_data = inspect_user_data(instance["user_data"])
    if not user_data.installs_app:
        problems.add("bad_user_data", problem=user_data.problem, **facts)
    problems.check()


def way_in_closed(lab: Lab2, instance: dict) -> tuple[str, dict] | None:
    """What in the instance's configuration keeps the internet from its port 80, as AWS routes it, or None."""
    if not instance["public_ip"]:
        return "closed_no_public_ip", {}
    gateways = [g["id"] for g in lab.inventory["internet_gateways"] if instance["vpc"] in g["attached"]]
    if not gateways:
        return "closed_no_igw", {"vpc_id": instance["vpc"]}
    subnet = lab.subnet_by_id(instance["subnet"])
    table = lab.route_table_of(subnet) if subnet else None
    if table is None or not any(r["destination"] == "0.0.0.0/0" and r["target"] in gateways for r in table["routes"]):
        return "closed_no_route", {"subnet": f"{label(subnet)} {subnet['cidr']}" if subnet else instance["subnet"],
                                   "table": label(table) if table else "none"}
    groups = [g for g in lab.inventory["security_groups"] if g["id"] in instance["groups"]]
    if not any(open_to_world(g, 80) for g in groups):
        return "closed_sg", {"groups": ", ".join(label(g) for g in groups) or "none"}
    if not inspect_user_data(instance["user_data"]).installs_app:
        return "closed_no_app", {}
    return None


@pytest.mark.step("2.7")
def test_app_answers(inventory, lab, instance):
    facts = {"instance": label(instance), "instance_id": instance["id"]}
    if instance["public_ip"]:
        facts["address"] = instance["public_ip"]
    if instance["state"] != "running":
        fail("not_running", state=instance["state"], **facts)
    probe = inventory["probe"]
    if probe["method"] == "none":
        note("not_probed", target=probe["target"])
        return
    answer = probe["answers"].get(instance["id"])
    problems = Problems()
    if answer is None:
        problems.add("no_answer", url="http://<no public IP>/", error="the instance has no public IPv4 address", **facts)
    else:
        facts["address"] = answer["url"].split("://", 1)[-1].rsplit("/api/settings", 1)[0]
        if answer["error"] and answer["status"] is None:
            problems.add("no_answer", url=answer["url"], error=answer["error"], **facts)
        elif answer["app"] != APP:
            fail("not_the_app", url=answer["url"], what=answer["error"] or f"HTTP {answer['status']}", **facts)
    closed = way_in_closed(lab, instance) if problems.found else None
    if closed:
        problems.add(closed[0], **closed[1], **facts)
    problems.check()
