"""Lab 3 collector: what the running app reports, the photo buckets (place, public access block,
policy, objects), the Employees table and its items."""

from __future__ import annotations

import base64

from bootcamp import webapp
from bootcamp.collect import Reader
from bootcamp.inventory import Inventory
from bootcamp.provision import TAG_LAB, tolerate

BUCKET_HINT = "employee-photo"  # buckets whose details are read (and the one the app names)
TABLE = "Employees"
BUCKET_LIMIT, OBJECT_LIMIT, TABLE_LIMIT, ITEM_LIMIT, APP_LIMIT = 5, 2000, 5, 1000, 3
INSTANCE_NAME = "Web Application"


def collect(reader: Reader) -> Inventory:
    inv = Inventory()
    inv.fetch("app", lambda: app(reader))
    inv.fetch("buckets", lambda: buckets(reader, inv))
    inv.fetch("tables", lambda: tables(reader))
    inv.fetch("items", lambda: items(reader, inv))
    return inv


def app(reader: Reader) -> dict:
    """Ask each copy of the app: the lab's instance on AWS, else the copies `invoke app.run` serves here."""
    if reader.target.name == "aws":
        pages = reader.client("ec2").get_paginator("describe_instances").paginate(Filters=[
            {"Name": "tag:Name", "Values": [INSTANCE_NAME]}, {"Name": "instance-state-name", "Values": ["running"]}])
        urls = [reader.target.public_url(i["PublicIpAddress"]) for page in pages for r in page["Reservations"]
                for i in r["Instances"] if i.get("PublicIpAddress")]
        where = "instance"
    else:
        urls, where = webapp.announced(reader.target, reader.home), "here"
    return {"where": where, "target": reader.target.name,
            "answers": [webapp.ask(url) for url in urls[:APP_LIMIT]]}


def _region(location: str | None) -> str:
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


def buckets(reader: Reader, inv: Inventory) -> dict:
    s3 = reader.client("s3")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    named_by_app = {(a["settings"] or {}).get("bucket", {}).get("name") for a in inv.data.get("app", {}).get("answers", [])}
    chosen = [n for n in names if BUCKET_HINT in n or n in named_by_app]
    chosen.sort(key=lambda n: (not n.startswith(BUCKET_HINT + "-bucket-"), n not in named_by_app, n))
    found = []
    for name in chosen[:BUCKET_LIMIT]:
        location = s3.get_bucket_location(Bucket=name).get("LocationConstraint")
        block = tolerate(lambda: s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"],
                         "NoSuchPublicAccessBlockConfiguration")
        policy = tolerate(lambda: s3.get_bucket_policy(Bucket=name)["Policy"], "NoSuchBucketPolicy")
        tags = tolerate(lambda: s3.get_bucket_tagging(Bucket=name)["TagSet"], "NoSuchTagSet") or []
        objects = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            objects += [{"key": o["Key"], "size": o["Size"], "etag": o.get("ETag", "").strip('"')}
                        for o in page.get("Contents", [])]
            if len(objects) >= OBJECT_LIMIT:
                break
        found.append({"name": name, "region": _region(location), "block_public_access": block, "policy": policy,
                      "lab": next((t["Value"] for t in tags if t["Key"] == TAG_LAB), ""),
                      "objects": objects[:OBJECT_LIMIT]})
    return {"region": reader.target.region, "account": reader.target.account_id, "found": found,
            "others": [n for n in names if n not in chosen][:20], "photos_dir": reader.state.get("photos", "")}


def tables(reader: Reader) -> dict:
    ddb = reader.client("dynamodb")
    names = [t for page in ddb.get_paginator("list_tables").paginate() for t in page["TableNames"]]
    chosen = sorted((t for t in names if "employee" in t.lower()), key=lambda t: (t != TABLE, t))
    found = []
    for name in chosen[:TABLE_LIMIT]:
        table = ddb.describe_table(TableName=name)["Table"]
        types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
        tags = ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", [])
        found.append({"name": name, "status": table.get("TableStatus", ""),
                      "lab": next((t["Value"] for t in tags if t["Key"] == TAG_LAB), ""),
                      "keys": [{"name": k["AttributeName"], "role": k["KeyType"], "type": types.get(k["AttributeName"], "")}
                               for k in table.get("KeySchema", [])]})
    return {"region": reader.target.region, "found": found, "others": [t for t in names if t not in chosen][:20]}


def items(reader: Reader, inv: Inventory) -> list[dict]:
    """The items of table Employees, each attribute as [type, text]."""
    if not any(t["name"] == TABLE for t in inv.data.get("tables", {}).get("found", [])):
        return []
    found = []
    for page in reader.client("dynamodb").get_paginator("scan").paginate(TableName=TABLE):
        found += [{name: plain(value) for name, value in item.items()} for item in page["Items"]]
        if len(found) >= ITEM_LIMIT:
            break
    return found[:ITEM_LIMIT]


def plain(value: dict) -> list:
    """{"S": "Ana"} -> ["S", "Ana"]; numbers stay text, binary becomes base64, the rest its type only."""
    kind, raw = next(iter(value.items()))
    if kind in ("S", "N"):
        return [kind, raw]
    if kind == "B":
        return [kind, base64.b64encode(raw).decode()]
    return [kind, ""]
