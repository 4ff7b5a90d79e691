"""Lab 3 graders: the photo bucket, its policy, the app's own settings, the photos, the table and
its items.

The bucket is found by its course name pattern, not by an exact name; the app's settings are
what the running app reports (the one on the lab's instance, asked at its public address, wherever
instances really run), never a file; the table must be exactly Employees, because that is
the name the app looks for.
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from functools import cached_property

import pytest

from bootcamp.photos import SAMPLES, md5s
from graders.plugin import Problems, fail, note

LAB = "3"
BUCKET_NAME = re.compile(r"^employee-photo-bucket-[a-z]{2,5}-\d{4}$")
ROLE = "EmployeeDirectoryAppRole"
TABLE = "Employees"
APP_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")  # the app's uuid4 ids
FIELDS = ("name", "email", "location", "photo")
BLOCKS = {"BlockPublicAcls": "Block public ACLs", "IgnorePublicAcls": "Ignore public ACLs",
          "BlockPublicPolicy": "Block public policy", "RestrictPublicBuckets": "Restrict public buckets"}


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE}"


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def text(item: dict, name: str) -> str:
    """An item's attribute as text, '' when it is missing or not a string."""
    kind, value = item.get(name, ["", ""])
    return value.strip() if kind == "S" else ""


def app_made(item: dict) -> bool:
    return bool(APP_ID.match(text(item, "id")))


def sample_photos_in(bucket: dict) -> set[str]:
    """The sample photos a bucket holds, known by their content (MD5) or their file name."""
    by_md5 = {digest: name for name, digest in md5s().items()}
    found = set()
    for obj in bucket["objects"]:
        base = obj["key"].rsplit("/", 1)[-1]
        found |= {by_md5.get(obj["etag"].lower()), base if base in SAMPLES else None}
    return found - {None}


class Lab3:
    """The learner's lab 3 as the graders see it: which bucket, app answers and table are theirs."""

    def __init__(self, inventory):
        self.inventory = inventory

    @property
    def region(self) -> str:
        return self.inventory["buckets"]["region"]

    @cached_property
    def answers(self) -> list[dict]:
        return self.inventory["app"]["answers"]

    @cached_property
    def bucket(self) -> dict | None:
        named = [b for b in self.inventory["buckets"]["found"]
                 if BUCKET_NAME.match(b["name"]) and b["lab"] in ("", LAB)]
        used = {(a["settings"] or {}).get("bucket", {}).get("name") for a in self.answers}
        named.sort(key=lambda b: (-len(sample_photos_in(b)), b["policy"] is None, b["name"] not in used, b["name"]))
        return named[0] if named else None

    @cached_property
    def table(self) -> dict | None:
        tables = self.inventory["tables"]
        return next((t for t in tables["found"] if t["name"] == TABLE and t["lab"] in ("", LAB)), None)


@pytest.fixture
def lab(inventory) -> Lab3:
    return Lab3(inventory)


@pytest.fixture
def bucket(lab) -> dict:
    if lab.bucket is None:
        fail("no_bucket_yet")
    return lab.bucket


@pytest.fixture
def table(lab) -> dict:
    if lab.table is None:
        fail("no_table_yet", region=lab.inventory["tables"]["region"])
    return lab.table


@pytest.mark.step("3.1")
def test_private_bucket_in_the_lab_region(lab):
    bucket = lab.bucket
    if bucket is None:
        seen = [b["name"] for b in lab.inventory["buckets"]["found"]] + lab.inventory["buckets"]["others"]
        fail("no_bucket", found=", ".join(seen[:5]), region=lab.region)
    facts = {"bucket": bucket["name"], "region": lab.region}
    problems = Problems()
    if bucket["region"] != lab.region:
        problems.add("wrong_region", its_region=bucket["region"], **facts)
    block = bucket["block_public_access"]
    if block is None:
        problems.add("no_bpa", **facts)
    else:
        off = [label for setting, label in BLOCKS.items() if not block.get(setting)]
        if off:
            problems.add("bpa_off", off=", ".join(off), **facts)
    problems.check()


def policy_problems(policy: dict, bucket: str, role: str) -> list[tuple[str, dict]]:
    """What keeps a bucket policy from being the course's: the role, s3:*, bucket and objects, nobody else."""
    found: list[tuple[str, dict]] = []
    statements = [s for s in listed(policy.get("Statement", [])) if isinstance(s, dict)]
    grants = []
    for n, statement in enumerate(statements, 1):
        if statement.get("Effect") != "Allow":
            continue  # a Deny grants nothing
        sid = statement.get("Sid") or f"#{n}"
        if "NotPrincipal" in statement:
            found.append(("not_principal", {"sid": sid}))
            continue
        named = statement.get("Principal", {})
        principals = {str(p) for p in (listed(named) if not isinstance(named, dict)
                                       else [v for value in named.values() for v in listed(value)])}
        if "*" in principals:
            found.append(("public", {"sid": sid}))
        for other in sorted(principals - {role, "*"}):
            found.append(("other_principal", {"sid": sid, "principal": other}))
        if principals & {role, "*"} and "NotAction" not in statement and "NotResource" not in statement:
            grants.append(statement)  # "*" grants the role too: the problem is everyone else
    if not grants:
        return found + [("no_role_grant", {})]
    everything = [s for s in grants if any(str(a).lower() in ("s3:*", "*") for a in listed(s.get("Action", [])))]
    if not everything:
        actions = sorted({str(a) for s in grants for a in listed(s.get("Action", []))})
        return found + [("not_all_actions", {"actions": ", ".join(actions) or "nothing"})]
    resources = [str(r) for s in everything for r in listed(s.get("Resource", []))]
    if not any(fnmatchcase(f"arn:aws:s3:::{bucket}", r) for r in resources):
        found.append(("no_bucket_resource", {}))
    if not any(fnmatchcase(f"arn:aws:s3:::{bucket}/*", r) for r in resources):
        found.append(("no_object_resource", {}))
    return found


@pytest.mark.step("3.2")
def test_bucket_policy_grants_only_the_app_role(lab, bucket):
    role = role_arn(lab.inventory["buckets"]["account"])
    facts = {"bucket": bucket["name"], "role_arn": role}
    if bucket["policy"] is None:
        fail("no_policy", **facts)
    try:
        policy = json.loads(bucket["policy"])
    except ValueError as exc:
        fail("bad_policy", error=str(exc), **facts)
    problems = Problems()
    for key, more in policy_problems(policy if isinstance(policy, dict) else {}, bucket["name"], role):
        problems.add(key, **facts, **more)
    problems.check()


@pytest.mark.step("3.3")
def test_the_app_uses_the_bucket(lab):
    app = lab.inventory["app"]
    here = app["where"] == "here"
    if not app["answers"]:
        if here:
            fail("app_not_running", target=app["target"], here=True)
        stopped = next((i for i in app.get("instances", []) if i["state"] != "running"), None)
        if stopped:
            fail("instance_stopped", instance_id=stopped["id"], state=stopped["state"], start=True)
        fail("no_instance_answer", start=True)
    answered = [a for a in app["answers"] if a["settings"]]
    if not answered:
        first = app["answers"][0]
        fail("app_no_answer", url=first["url"], error=first["error"], here=here,
             **({} if here else {"unreached": True}))
    if lab.bucket is None:
        fail("no_bucket_yet")
    bucket = lab.bucket["name"]
    for answer in answered:
        said = answer["settings"]["bucket"]
        if said.get("name") == bucket and said.get("reachable"):
            return
    answer = next((a for a in answered if a["settings"]["bucket"].get("name") == bucket), answered[0])
    said = answer["settings"]["bucket"]
    facts = {"url": f"{answer['url']}/settings", "bucket": bucket, "here": here}
    if said.get("name") == bucket:
        if without_role(answer):
            fail("app_no_role", error=said.get("error") or "unknown", role=True, **facts)
        fail("app_cannot_reach", error=said.get("error") or "unknown", **facts)
    if not said.get("name"):
        fail("app_no_bucket", **facts)
    fail("app_other_bucket", uses=said["name"], **facts)


def without_role(answer: dict) -> bool:
    """The app asked runs on an instance that has no instance profile, so it has no AWS keys."""
    return "instance" in answer and not answer.get("profile")


@pytest.mark.step("3.4")
def test_sample_photos_uploaded(lab, bucket):
    present = sample_photos_in(bucket)
    if len(present) < len(SAMPLES):
        missing = [name for name in SAMPLES if name not in present]
        where = {"photos_dir": lab.inventory["buckets"]["photos_dir"]} if lab.inventory["buckets"]["photos_dir"] else {}
        fail("missing_photos", bucket=bucket["name"], count=len(present), missing=", ".join(missing), **where)


def unusable_key(table: dict) -> dict:
    """Why the app cannot write items to the table, as message facts ({} when it can)."""
    partition = next((k for k in table["keys"] if k["role"] == "HASH"), {})
    if partition.get("name") != "id" or partition.get("type") != "S":
        return {"key_name": partition.get("name", "none"), "key_type": partition.get("type", "")}
    return {}


@pytest.mark.step("3.5")
def test_employees_table(lab):
    tables = lab.inventory["tables"]
    table = lab.table
    if table is None:
        near = [t["name"] for t in tables["found"] if t["name"].lower() == TABLE.lower() and t["lab"] in ("", LAB)]
        if near:
            fail("wrong_name", name=near[0], region=tables["region"])
        fail("no_table", region=tables["region"], found=", ".join(t["name"] for t in tables["found"]))
    problems = Problems()
    if table["status"] != "ACTIVE":
        problems.add("not_active", status=table["status"], region=tables["region"])
    keys = {k["role"]: k for k in table["keys"]}
    partition = keys.get("HASH", {})
    if partition.get("name") != "id":
        problems.add("wrong_key", key_name=partition.get("name", "none"), region=tables["region"])
    elif partition.get("type") != "S":
        problems.add("wrong_key_type", attr_type=partition.get("type"), region=tables["region"])
    if "RANGE" in keys:
        problems.add("sort_key", key_name=keys["RANGE"]["name"], region=tables["region"])
    problems.check()


@pytest.mark.step("3.6")
def test_employees_added_through_the_app(lab, table):
    items = lab.inventory["items"]
    made = [i for i in items if app_made(i)]
    if not made:
        if unusable_key(table):
            fail("table_unusable", **unusable_key(table))
        if app_has_no_bucket(lab.inventory["app"]):
            fail("app_no_bucket_yet")
        fail("no_app_items", count=len(items))
    bucket = lab.bucket
    keys = {o["key"] for o in bucket["objects"]} if bucket else set()
    problems = Problems()
    for item in made:
        label = f"{text(item, 'name') or '(no name)'} ({text(item, 'id')})"
        missing = [name for name in FIELDS if not text(item, name)]
        if missing:
            problems.add("incomplete", item=label, missing=", ".join(missing))
        elif bucket is None:
            fail("no_bucket_yet")
        elif text(item, "photo") not in keys:
            problems.add("photo_missing", item=label, photo=text(item, "photo"), bucket=bucket["name"])
    problems.check()


def app_has_no_bucket(app: dict) -> bool:
    """Every copy of the app that answered says it has no bucket (so it cannot save a photo)."""
    answered = [a for a in app["answers"] if a["settings"]]
    return bool(answered) and not any(a["settings"]["bucket"].get("name") for a in answered)


def ident(item: dict) -> str:
    """An item's id as the app shows it: a string or a number made in the console."""
    kind, value = item.get("id", ["", ""])
    return value if kind in ("S", "N") else ""


@pytest.mark.step("3.7")
def test_item_created_directly_shows_in_the_app(lab, table):
    items = lab.inventory["items"]
    direct = [i for i in items if ident(i) and not app_made(i)]
    if not direct:
        if unusable_key(table):
            fail("table_unusable", **unusable_key(table))
        fail("no_direct_item", count=len(items))
    named = [i for i in direct if text(i, "name")]
    if not named:
        fail("direct_no_name", item=ident(direct[0]))
    listing = [a for a in lab.inventory["app"]["answers"] if a["employees"] is not None]
    cannot = next((a for a in lab.inventory["app"]["answers"] if a["settings"] and a["employees_error"]), None)
    if not listing and cannot:  # the app answers but cannot read the table: the item does not show in it
        facts = {"url": cannot["url"], "error": cannot["employees_error"], "item": ident(named[0])}
        if without_role(cannot):
            fail("app_no_role", role=True, **facts)
        fail("app_cannot_list", cannot_list=True, **facts)
    if not listing:
        reasons = [a["employees_error"] or a["error"] for a in lab.inventory["app"]["answers"]]
        note("not_shown_checked", why="; ".join(r for r in reasons if r) or "no app is running")
        return
    for answer in listing:
        shown = {str(e.get("id")) for e in answer["employees"] if isinstance(e, dict)}
        if any(ident(i) in shown for i in named):
            return
    fail("not_shown", item=ident(named[0]), url=listing[0]["url"], region=lab.inventory["tables"]["region"])
