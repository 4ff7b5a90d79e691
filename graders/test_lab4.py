"""Lab 4 graders: the target group, the load balancer, the launch template, the Auto Scaling group,
its scaling policy and notifications, and the original instance replaced by the group's.

What is judged is what the learner configured, and step 4.7 also what runs: it asks the app through
the load balancer's DNS name (on AWS, and on the sandbox through its edge, where instances run the
app and target health comes from real checks), and wants answers from two AZs from apps that reach
their table and bucket. Where no load balancer answers (LocalStack) it says in a note what it could
not see.
"""

from __future__ import annotations

import re
from functools import cached_property

import pytest

from bootcamp.userdata import inspect as inspect_user_data
from graders.plugin import Problems, fail, note

LAB = "4"
VPC, SUBNETS, INSTANCE = "Lab VPC", ("Public Subnet 1", "Public Subnet 2"), "Web Application"
LB_SG, TARGET_GROUP, LOAD_BALANCER = "LoadBalancerSG", "lab-app-target-group", "Web-Application-ALB"
TEMPLATE, GROUP, TOPIC, PROFILE = "lab-app-launch-template", "app-asg", "lab-app-sns-topic", "EmployeeDirectoryAppRole"
INSTANCE_TYPE, AL2023 = "t3.micro", "al2023-ami-"
BUCKET_NAME = re.compile(r"^employee-photo-bucket-[a-z]{2,5}-\d{4}$")
HEALTH_CHECK = {"protocol": "HTTP", "path": "/", "healthy": 2, "unhealthy": 5, "timeout": 20, "interval": 30}
GONE = ("shutting-down", "terminated")
NEEDED_NOTICES = {"autoscaling:EC2_INSTANCE_LAUNCH": "Launch", "autoscaling:EC2_INSTANCE_TERMINATE": "Terminate"}


def answers_200(codes: str) -> bool:
    """Whether a target group's success codes ("200", "200,302", "200-299") include 200."""
    for part in str(codes).replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and int(low) <= 200 <= int(high if high.isdigit() else low):
            return True
    return False


def named(items: list[dict], name: str) -> dict | None:
    return next((i for i in items if i["name"] == name), None)


def others(items: list[dict]) -> str:
    return ", ".join(sorted(i["name"] for i in items)[:5])


class Lab4:
    """The learner's lab 4 as the graders see it: the lab network and the course's resources in it."""

    def __init__(self, inventory):
        self.inventory = inventory

    @property
    def region(self) -> str:
        return self.inventory["region"]

    @cached_property
    def vpc(self) -> str:
        vpcs = [v for v in self.inventory["vpcs"] if v["name"] == VPC]
        vpcs.sort(key=lambda v: (v["lab"] != LAB, v["lab"] != "", v["id"]))
        return vpcs[0]["id"] if vpcs else ""

    @cached_property
    def subnets(self) -> dict[str, str]:
        """The lab's public subnets: subnet id -> Availability Zone."""
        inside = [s for s in self.inventory["subnets"] if s["vpc"] == self.vpc]
        public = [s for s in inside if s["name"] in SUBNETS] or inside
        return {s["id"]: s["az"] for s in public}

    @cached_property
    def instances(self) -> dict[str, dict]:
        return {i["id"]: i for i in self.inventory["instances"]}

    @cached_property
    def originals(self) -> list[dict]:
        """The Web Application instances that no Auto Scaling group launched, lab 4's first."""
        found = [i for i in self.inventory["instances"] if i["name"] == INSTANCE and not i["group"]
                 and i["lab"] in ("", LAB) and (not self.vpc or i["vpc"] in ("", self.vpc))]
        return sorted(found, key=lambda i: (i["lab"] != LAB, i["state"] in GONE, i["id"]))

    @cached_property
    def target_group(self) -> dict | None:
        return named(self.inventory["target_groups"], TARGET_GROUP)

    @cached_property
    def balancer(self) -> dict | None:
        return named(self.inventory["load_balancers"], LOAD_BALANCER)

    @cached_property
    def group(self) -> dict | None:
        return named(self.inventory["auto_scaling"]["groups"], GROUP)

    @cached_property
    def template(self) -> dict | None:
        return named(self.inventory["launch_templates"], TEMPLATE)

    def subnet_names(self, ids) -> str:
        labels = {s["id"]: f"{s['name'] or s['id']} ({s['az']})" for s in self.inventory["subnets"]}
        return ", ".join(labels.get(i, i) for i in sorted(ids))


@pytest.fixture
def lab(inventory) -> Lab4:
    lab = Lab4(inventory)
    if not lab.vpc:
        fail("no_network", region=lab.region)
    return lab


@pytest.fixture
def target_group(lab) -> dict:
    if lab.target_group is None:
        fail("no_target_group_yet")
    return lab.target_group


@pytest.fixture
def group(lab) -> dict:
    if lab.group is None:
        fail("no_group_yet")
    return lab.group


@pytest.mark.step("4.1")
def test_target_group(lab):
    group = lab.target_group
    if group is None:
        fail("no_target_group", found=others(lab.inventory["target_groups"]))
    facts = {"name": group["name"]}
    if group["type"] != "instance":
        fail("wrong_kind", kind=group["type"], **facts)
    problems = Problems()
    if (group["protocol"], group["port"]) != ("HTTP", 80):
        problems.add("wrong_listen", protocol=group["protocol"], port=group["port"], **facts)
    if group["vpc"] != lab.vpc:
        problems.add("wrong_vpc", vpc=group["vpc"], lab_vpc=lab.vpc, **facts)
    for setting, want in HEALTH_CHECK.items():
        got = group["health_check"][setting]
        if got != want:
            problems.add("health_setting", setting=setting, got=got, want=want, **facts)
    if not answers_200(group["health_check"]["matcher"] or "200"):
        problems.add("no_200", codes=group["health_check"]["matcher"], **facts)
    problems.check()


@pytest.mark.step("4.2")
def test_load_balancer(lab):
    balancer = lab.balancer
    if balancer is None:
        fail("no_balancer", found=others(lab.inventory["load_balancers"]))
    facts = {"name": balancer["name"]}
    if balancer["type"] != "application":
        fail("not_application", kind=balancer["type"], **facts)
    problems = Problems()
    if balancer["scheme"] != "internet-facing":
        problems.add("internal", **facts)
    placed = {z["subnet"] for z in balancer["zones"]}
    if not set(lab.subnets) <= placed or len({z["az"] for z in balancer["zones"]}) < 2:
        problems.add("subnets", subnets=lab.subnet_names(placed) or "no subnet",
                     wanted=lab.subnet_names(lab.subnets), **facts)
    groups = {g["id"]: g["name"] for g in lab.inventory["security_groups"]}
    if LB_SG not in {groups.get(g) for g in balancer["security_groups"]}:
        problems.add("no_lb_sg", groups=", ".join(groups.get(g, g) for g in balancer["security_groups"]) or "none",
                     **facts)
    http = [li for li in balancer["listeners"] if (li["protocol"], li["port"]) == ("HTTP", 80)]
    names = {g["arn"]: g["name"] for g in lab.inventory["target_groups"]}
    if not http:
        problems.add("no_listener", listeners=", ".join(f"{li['protocol']} {li['port']}" for li in balancer["listeners"]),
                     **facts)
    elif not any([names.get(arn) for arn in li["forwards"]] == [TARGET_GROUP] for li in http):
        forwards = sorted({names.get(arn, arn.rsplit("/", 2)[-2] if "/" in arn else arn)
                           for li in http for arn in li["forwards"]})
        problems.add("wrong_forward", forwards=", ".join(forwards), **facts)
    original = next(iter(lab.originals), None)
    if original and original["state"] not in GONE:
        registered = {t["id"] for t in (lab.target_group or {}).get("targets", [])}
        if original["id"] not in registered:
            problems.add("not_registered", instance=original["id"], **facts)
    else:
        note("registration_unseen")
    problems.check()


def judged_version(lab: Lab4, template: dict) -> str:
    """The version app-asg launches when it uses this template, else the template's default."""
    uses = (lab.group or {}).get("template", {})
    wanted = uses.get("version", "$Default") if uses.get("name") == template["name"] or uses.get("id") == template["id"] else "$Default"
    number = {"$Default": template["default"], "$Latest": template["latest"]}.get(wanted, wanted)
    return str(number)


@pytest.mark.step("4.3")
def test_launch_template(lab):
    template = lab.template
    if template is None:
        fail("no_template", found=others(lab.inventory["launch_templates"]))
    version = judged_version(lab, template)
    data = template["versions"].get(version)
    facts = {"name": template["name"], "version": version}
    if data is None:
        fail("wrong_type", got="", **facts)  # a version that is not there launches nothing
    problems = Problems()
    if data["type"] != INSTANCE_TYPE:
        problems.add("wrong_type", got=data["type"], **facts)
    if not data["image_name"].startswith(AL2023):
        problems.add("not_al2023", image=data["image_name"] or data["image"], **facts)
    if not data["profile"]:
        problems.add("no_profile", **facts)
    elif data["profile"] != PROFILE:
        problems.add("wrong_profile", got=data["profile"], **facts)
    if data["metadata_endpoint"] == "disabled":
        problems.add("metadata_off", **facts)
    elif data["tokens"] != "optional":
        problems.add("tokens", got=data["tokens"], **facts)
    script = inspect_user_data(data["user_data"])
    buckets = [b for b in lab.inventory["buckets"] if BUCKET_NAME.match(b)]
    if not script.installs_app:
        problems.add("bad_user_data", problem=script.problem, **facts)
    else:
        if script.bucket not in buckets:
            problems.add("wrong_bucket", got=script.bucket, buckets=" or ".join(buckets) or "your photo bucket", **facts)
        if script.region != lab.region:
            problems.add("wrong_region", got=script.region, region=lab.region, **facts)
    problems.check()


@pytest.mark.step("4.4")
def test_auto_scaling_group(lab):
    group = lab.group
    if group is None:
        fail("no_group", found=others(lab.inventory["auto_scaling"]["groups"]))
    facts = {"name": group["name"]}
    problems = Problems()
    uses = group["template"]
    template = lab.template or {}
    if not (uses["name"] == TEMPLATE or (uses["id"] and uses["id"] == template.get("id"))):
        got = uses["name"] or uses["id"] or (f"launch configuration {uses['configuration']}" if uses["configuration"] else "")
        problems.add("wrong_template", got=got, **facts)
    if not set(lab.subnets) <= set(group["subnets"]) or len({lab.subnets.get(s) for s in group["subnets"]} - {None}) < 2:
        problems.add("subnets", subnets=lab.subnet_names(group["subnets"]), wanted=lab.subnet_names(lab.subnets), **facts)
    if not lab.target_group or lab.target_group["arn"] not in group["target_groups"]:
        problems.add("no_target_group", **facts)
    if group["health_check"] != "ELB":
        problems.add("health_check", got=group["health_check"], **facts)
    if (group["desired"], group["min"], group["max"]) != (2, 2, 4):
        problems.add("sizes", desired=group["desired"], min=group["min"], max=group["max"], **facts)
    problems.check()


def policy_problems(policy: dict, group_warmup) -> list[tuple[str, dict]]:
    facts = {"policy": policy["name"]}
    found = []
    if policy["metric"] != "ASGAverageCPUUtilization":
        return [("wrong_metric", {"metric": policy["metric"] or "no metric", **facts})]
    if policy["target"] is None or float(policy["target"]) != 30.0:
        found.append(("wrong_target", {"got": policy["target"], **facts}))
    warmup = policy["warmup"] if policy["warmup"] is not None else group_warmup
    if warmup != 300:
        found.append(("wrong_warmup", {"got": warmup, **facts}))
    if not policy["enabled"]:
        found.append(("disabled", facts))
    return found


@pytest.mark.step("4.5")
def test_cpu_target_tracking(lab, group):
    tracking = [p for p in group["policies"] if p["type"] == "TargetTrackingScaling"]
    if not tracking:
        fail("no_policy", name=group["name"], found=", ".join(p["name"] for p in group["policies"]))
    judged = sorted((policy_problems(p, group["warmup"]) for p in tracking), key=len)
    if judged[0]:
        problems = Problems()
        for key, facts in judged[0]:
            problems.add(key, **facts)
        problems.check()


@pytest.mark.step("4.6")
def test_notifications(lab, group):
    facts = {"name": group["name"]}
    if not group["notifications"]:
        fail("no_notifications", **facts)
    ours = [n for n in group["notifications"] if n["topic"].rsplit(":", 1)[-1] == TOPIC]
    if not ours:
        fail("wrong_topic", topics=", ".join(sorted({n["topic"].rsplit(":", 1)[-1] for n in group["notifications"]})),
             **facts)
    if not set(lab.inventory["topics"]) & {n["topic"] for n in ours}:
        fail("topic_gone", **facts)
    missing = [label for kind, label in NEEDED_NOTICES.items() if kind not in {n["type"] for n in ours}]
    if missing:
        fail("missing_types", missing=", ".join(missing), **facts)


@pytest.mark.step("4.7")
def test_the_group_serves_and_the_original_is_gone(lab, target_group):
    running = [i for i in lab.originals if i["state"] not in GONE]
    if running:
        fail("original_running", instance=running[0]["id"], state=running[0]["state"])
    healthy = [t for t in target_group["targets"]
               if t["state"] == "healthy" and lab.instances.get(t["id"], {}).get("group") == GROUP]
    if len(healthy) < 2:
        rest = [f"{t['id']} {t['state']}" for t in target_group["targets"] if t not in healthy]
        fail("too_few_healthy", healthy=len(healthy), others=", ".join(rest[:4]))
    if not lab.originals:
        note("original_unseen")
    probe = lab.inventory["probe"]
    if probe["method"] != "http":
        note("runtime_unchecked", target=probe["target"], healthy=len(healthy))
        return
    answers = probe.get("answers") or [probe]
    served = [a for a in answers if a["status"] == 200 and a.get("app") == "employee-directory"]
    if not served:
        if lab.balancer and lab.balancer["scheme"] == "internal":
            fail("internal_no_answer", url=probe["url"])
        fail("no_answer", url=probe["url"], error=probe["error"], status=probe["status"])
    broken = next((a for a in served if a.get("table_error") or a.get("bucket_error")), None)
    if broken:
        fail("app_cannot_reach", instance=broken.get("instance") or "?",
             error=broken.get("table_error") or broken.get("bucket_error"))
    zones = {a["az"] for a in served if a.get("az")} or {lab.instances[t["id"]]["az"] for t in healthy}
    if len(zones) < 2:
        fail("one_zone", zone=", ".join(sorted(zones)))
