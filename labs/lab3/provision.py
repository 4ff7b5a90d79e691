"""Lab 3 provisioning: lab 2's end state with the app's role and the sample photos; the
learner's steps done right (bucket, policy, photos, table, employees through the app); cleanup."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import botocore.exceptions as bx

from bootcamp import approle, network, photos, userdata, webapp
from bootcamp.errors import BootcampError
from bootcamp.guide_values import bucket_suffix, initials
from bootcamp.provision import Context, error_code, name_of, tolerate
from bootcamp.state import forget_app_settings, lab_files

LAYOUT = network.Layout(vpc="Lab VPC")
BUCKET_PREFIX = "employee-photo-bucket-"
TABLE = approle.TABLE
# Added through the app by solve: (name, email, location, photo).
EMPLOYEES = (("Seoyeon Han", "seoyeon.han@example.com", "Seoul", "seoyeon-han.png"),
             ("Lucas Moreau", "lucas.moreau@example.com", "Lyon", "lucas-moreau.png"),
             ("Ananya Iyer", "ananya.iyer@example.com", "Bengaluru", "ananya-iyer.png"))
DIRECT_ITEM = {"id": {"S": "emp-001"}, "name": {"S": "Dohyun Yoon"}, "email": {"S": "dohyun.yoon@example.com"},
               "location": {"S": "Busan"}, "photo": {"S": "dohyun-yoon.png"}}


def photos_dir(ctx: Context) -> Path:
    return lab_files(ctx.home, ctx.lab.id, ctx.target.name, ctx.account) / "photos"


def start(ctx: Context) -> None:
    """What the course prepares: the network and the app's instance (with its role), and the photos."""
    net = network.build(ctx, LAYOUT)
    profile = approle.ensure(ctx)
    network.web_instance(ctx, LAYOUT, net, userdata.render(ctx.region), instance_profile=profile)
    folder = photos_dir(ctx)
    fresh = not folder.exists()
    photos.write(folder)
    if fresh:
        ctx.did(f"{len(photos.SAMPLES)} sample employee photos in {folder}")
    ctx.state.update(photos=str(folder))
    if ctx.target.runs_instances:
        ctx.log(f"  the app runs on instance {LAYOUT.instance}: `invoke lab.open 3` opens it, and its Settings "
                "page is where you give it the bucket")
    else:
        ctx.log(f"  the {ctx.target.name} target runs no instances: serve the app here with `invoke app.run` "
                "(keep it running while you grade)")


def bucket_names(ctx: Context, tries: int = 20) -> list[str]:
    """The learner's bucket name (the guide's), then others with the next digits: names are global."""
    first = int(bucket_suffix(ctx.owner, ctx.account))
    return [f"{BUCKET_PREFIX}{initials(ctx.owner)}-{(first + n) % 10000:04d}" for n in range(tries)]


def solve(ctx: Context) -> None:
    start(ctx)
    bucket = photo_bucket(ctx)
    bucket_with_photos(ctx, bucket)
    employees_table(ctx)
    _through_the_app(ctx, bucket)
    ctx.client("dynamodb").put_item(TableName=TABLE, Item=DIRECT_ITEM)
    ctx.did(f"item {DIRECT_ITEM['id']['S']} put directly into {TABLE}")
    if not ctx.target.runs_instances:
        ctx.log("  steps 3.3 and 3.7 ask the app itself: keep `invoke app.run` running while you grade")


def bucket_with_photos(ctx: Context, bucket: str, keep_policy: bool = False) -> None:
    """The bucket policy for the app's role, and the sample photos in the bucket.

    keep_policy: a start (lab 4's) leaves a policy the bucket already has, as the learner left it;
    solve writes the right one, as the learner's step does.
    """
    s3 = ctx.client("s3")
    has_policy = keep_policy and tolerate(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy")
    if not has_policy:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy(ctx.account, bucket)))
        ctx.did(f"bucket policy: {approle.ROLE} may use s3:* on {bucket} and its objects")
    present = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
               for o in page.get("Contents", [])}
    missing = {name: data for name, data in photos.sample_photos().items() if name not in present}
    for name, data in missing.items():
        s3.put_object(Bucket=bucket, Key=name, Body=data, ContentType=photos.MEDIA_TYPE)
    if missing:
        ctx.did(f"{len(missing)} sample photos in {bucket}")


@contextmanager
def running(ctx: Context) -> Iterator[None]:
    """What the learner keeps running while grading: the app, here, where no instance runs it (LocalStack)."""
    if ctx.target.runs_instances:
        yield
        return
    with webapp.serving(ctx.target.settings, ctx.target, port=0) as app, webapp.in_background(app):
        yield


def bucket_policy(account: str, bucket: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "EmployeeDirectoryApp", "Effect": "Allow", "Principal": {"AWS": approle.role_arn(account)},
        "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}


def photo_bucket(ctx: Context) -> str:
    """The lab's photo bucket, private and tagged (made when missing); its name is kept in the state.

    A bucket of this account the lab did not make (the learner's, from lab 3) is never taken
    over: the next name is used, as for a name another account holds.
    """
    s3 = ctx.client("s3")
    saved = ctx.state.load().get("bucket")
    for bucket in dict.fromkeys([saved, *bucket_names(ctx)] if saved else bucket_names(ctx)):
        if _claim(ctx, bucket, saved):  # a saved name no longer ours (the sandbox was reset): the next one
            break
    else:
        raise BootcampError(f"bucket names {bucket_names(ctx)[0]} and the next ones are taken: "
                            "set BOOTCAMP_OWNER to other initials and run this again")
    _add_missing_settings(ctx, bucket)
    return bucket


def _claim(ctx: Context, bucket: str, saved: str | None) -> bool:
    """Make the bucket for the lab; True when it is the lab's (made now, or earlier by this lab)."""
    where = {} if ctx.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": ctx.region}}
    try:
        ctx.client("s3").create_bucket(Bucket=bucket, **where)
    except bx.ClientError as exc:
        if error_code(exc) == "BucketAlreadyOwnedByYou":
            return bucket == saved or _bucket_is_ours(ctx, bucket)
        if error_code(exc) == "BucketAlreadyExists":
            return False
        raise
    ctx.state.update(bucket=bucket)  # at once: from now on the bucket is the lab's, tagged or not yet
    ctx.did(f"bucket {bucket} in {ctx.region}")
    return True


def _add_missing_settings(ctx: Context, bucket: str) -> None:
    """Block Public Access and the lab's tags, where missing: what the learner changed since stays."""
    s3 = ctx.client("s3")
    if tolerate(lambda: s3.get_public_access_block(Bucket=bucket), "NoSuchPublicAccessBlockConfiguration") is None:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
    found = tolerate(lambda: s3.get_bucket_tagging(Bucket=bucket)["TagSet"], "NoSuchTagSet") or []
    tags = {t["Key"]: t["Value"] for t in found}
    if any(tags.get(k) != v for k, v in ctx.tags.items()):
        merged = {**tags, **ctx.tags}
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]})
    ctx.state.update(bucket=bucket)


def _table_tags(ctx: Context) -> list[dict] | None:
    """The tags of table Employees, or None when the account has no such table."""
    ddb = ctx.client("dynamodb")
    try:
        arn = ddb.describe_table(TableName=TABLE)["Table"]["TableArn"]
    except bx.ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])


def refuse_foreign_table(ctx: Context) -> None:
    """A table Employees the lab did not make is the learner's: refused, never filled or tagged."""
    tags = _table_tags(ctx)
    if tags is not None and not ctx.is_ours(tags):
        ctx.refuse_foreign("DynamoDB table", TABLE, tags)


def employees_table(ctx: Context) -> None:
    ddb = ctx.client("dynamodb")
    refuse_foreign_table(ctx)
    try:
        ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], Tags=ctx.tag_list())
        ctx.did(f"table {TABLE} (partition key id, String)")
    except bx.ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
    ddb.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 2, "MaxAttempts": 60})


def _through_the_app(ctx: Context, bucket: str) -> None:
    """Point the app at the bucket and add employees with its forms, where the learner would."""
    if ctx.target.runs_instances:
        app = _instance_app(ctx)
    else:
        app = webapp.local_app(ctx.target.settings, ctx.target)
    webapp.submit(app, "/settings", {"bucket": bucket})
    ctx.did(f"the app uses bucket {bucket}")
    scan = ctx.client("dynamodb").get_paginator("scan").paginate(TableName=TABLE)
    known = {item.get("name", {}).get("S") for page in scan for item in page["Items"]}
    for name, email, location, photo in EMPLOYEES:
        if name not in known:
            webapp.submit(app, "/add", {"name": name, "email": email, "location": location, "existing_photo": photo})
            ctx.did(f"employee {name} added through the app")


def _instance_app(ctx: Context) -> str:
    """The URL of the app on the lab's instance, once it answers (on AWS the user data takes minutes)."""
    instance = next((i for i in ctx.lab_instances() if name_of(i) == LAYOUT.instance), None)
    if instance and instance["State"]["Name"] not in ("pending", "running"):
        raise BootcampError(f"instance {LAYOUT.instance} {instance['InstanceId']} is {instance['State']['Name']}: "
                            "start it, then run `invoke lab.solve 3` again")
    if not instance or not instance.get("PublicIpAddress"):
        raise BootcampError(f"instance {LAYOUT.instance} has no public IP yet: run `invoke lab.solve 3` again")
    app = ctx.target.public_url(instance["PublicIpAddress"])
    if ctx.target.name == "aws":
        webapp.wait_until_up(app, pause=ctx.target.pause(10))
    else:  # the sandbox's edge already waits while the app boots
        webapp.wait_until_up(app, minutes=0.5, pause=0.5)
    return app


def clean(ctx: Context) -> None:
    network.clean(ctx)
    approle.clean(ctx)
    for bucket in _our_buckets(ctx):
        _empty_and_delete(ctx, bucket)
    if _our_table(ctx):
        ctx.client("dynamodb").delete_table(TableName=TABLE)
        ctx.did(f"deleted table {TABLE}")
    for what in _learners_own(ctx):
        ctx.log(f"  left {what}: you made it, and lab.clean deletes only what the lab tagged "
                "(delete it in the console, or `invoke sandbox.reset` on the sandbox)")
    shutil.rmtree(photos_dir(ctx).parent, ignore_errors=True)
    labs_files = photos_dir(ctx).parent.parent
    if labs_files.is_dir() and not any(labs_files.iterdir()):
        labs_files.rmdir()
    forget_app_settings(ctx.home, ctx.target.name, ctx.account)  # the bucket saved on the app's settings page
    ctx.state.clear()


def _photo_buckets(ctx: Context) -> list[str]:
    return [b["Name"] for b in ctx.client("s3").list_buckets()["Buckets"] if b["Name"].startswith(BUCKET_PREFIX)]


def _bucket_is_ours(ctx: Context, bucket: str) -> bool:
    try:
        tags = ctx.client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
    except bx.ClientError as exc:
        if error_code(exc) in ("NoSuchTagSet", "NoSuchBucket", "AccessDenied"):
            return False
        raise
    return ctx.is_ours(tags)


def _our_buckets(ctx: Context) -> list[str]:
    return [b for b in _photo_buckets(ctx) if _bucket_is_ours(ctx, b)]


def _empty_and_delete(ctx: Context, bucket: str) -> None:
    s3 = ctx.client("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    tolerate(lambda: s3.delete_bucket(Bucket=bucket), "NoSuchBucket")
    ctx.did(f"deleted bucket {bucket} and its objects")


def _our_table(ctx: Context) -> bool:
    tags = _table_tags(ctx)
    return tags is not None and ctx.is_ours(tags)


def _learners_own(ctx: Context) -> list[str]:
    """Lab 3 look-alikes the learner made: named, never deleted, so the learner knows."""
    found = [f"bucket {b}" for b in _photo_buckets(ctx) if not _bucket_is_ours(ctx, b)]
    tables = [t for page in ctx.client("dynamodb").get_paginator("list_tables").paginate()
              for t in page["TableNames"] if t.lower() == TABLE.lower()]
    return found + [f"table {t}" for t in tables if t != TABLE or not _our_table(ctx)]


def leftovers(ctx: Context) -> list[str]:
    found = network.leftovers(ctx) + approle.leftovers(ctx)
    found += [f"bucket {b}" for b in _our_buckets(ctx)]
    if _our_table(ctx):
        found.append(f"table {TABLE}")
    if photos_dir(ctx).exists():
        found.append(f"folder {photos_dir(ctx)}")
    return found
