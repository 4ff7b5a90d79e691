"""Lab 1 provisioning: what the course pre-builds, the learner's steps done right, cleanup."""

from __future__ import annotations

import json
import secrets
import string

from bootcamp.provision import GONE, Context, tolerate

USERS = ("user-1", "user-2", "user-3")
GROUP_PATH = "/bootcamp/lab1/"  # IAM groups take no tags: the path marks the lab's own
MANAGED = {
    "EC2-Support": "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess",
    "S3-Support": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
}
ADMIN_GROUP = "EC2-Admin"
ADMIN_POLICY_NAME = "EC2-Admin-Policy"
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:StartInstances", "ec2:StopInstances"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": "cloudwatch:Describe*", "Resource": "*"},
    ],
}
GROUPS = (*MANAGED, ADMIN_GROUP)
MEMBERSHIP = {"user-1": "S3-Support", "user-2": "EC2-Support", "user-3": ADMIN_GROUP}
INSTANCE_TYPE = "t3.micro"
INSTANCE_NAME = "Lab 1 instance"


def bucket_name(ctx: Context) -> str:
    return f"bootcamp-lab1-s3bucket-{ctx.account}-{ctx.region}"


def password() -> str:
    pool = string.ascii_letters + string.digits
    core = "".join(secrets.choice(pool) for _ in range(16))
    return f"{core}!a7Q"  # meets any account password policy's character classes


def start(ctx: Context) -> None:
    """Users with console passwords, the three groups, a running instance and a bucket."""
    iam = ctx.client("iam")
    for group in GROUPS:
        _ensure_group(ctx, iam, group)
    for group, arn in MANAGED.items():
        iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.put_group_policy(GroupName=ADMIN_GROUP, PolicyName=ADMIN_POLICY_NAME,
                         PolicyDocument=json.dumps(ADMIN_POLICY))
    for user in USERS:
        _ensure_user(ctx, iam, user)
        _ensure_password(ctx, iam, user)
    if ctx.target.name == "embedded":
        _ensure_access_keys(ctx, iam)
    _ensure_instance(ctx)
    _ensure_bucket(ctx)


def _ensure_group(ctx: Context, iam, group: str) -> None:
    found = tolerate(lambda: iam.get_group(GroupName=group), "NoSuchEntity")
    if found is None:
        iam.create_group(GroupName=group, Path=GROUP_PATH)
        ctx.did(f"group {group}")
    elif found["Group"]["Path"] != GROUP_PATH:
        ctx.refuse_foreign("IAM group", group)


def _ensure_user(ctx: Context, iam, user: str) -> None:
    found = tolerate(lambda: iam.get_user(UserName=user), "NoSuchEntity")
    if found is None:
        iam.create_user(UserName=user, Tags=ctx.tag_list())
        ctx.did(f"user {user}")
    elif not ctx.is_ours(iam.list_user_tags(UserName=user)["Tags"]):
        ctx.refuse_foreign("IAM user", user)


def _ensure_password(ctx: Context, iam, user: str) -> None:
    """A console password the learner can read in the state: saved before the call that sets it.

    A user listed under `passwords_unsure` may or may not have that password yet (the start was
    stopped during the call); a login profile whose password is not saved gets a new one.
    """
    saved = ctx.state.load()
    passwords, unsure = dict(saved.get("passwords", {})), set(saved.get("passwords_unsure", []))
    has_profile = tolerate(lambda: iam.get_login_profile(UserName=user), "NoSuchEntity") is not None
    if has_profile and user in passwords and user not in unsure:
        return
    secret = passwords[user] if user in unsure and user in passwords else password()
    ctx.state.update(passwords={**passwords, user: secret}, passwords_unsure=sorted(unsure | {user}))
    if has_profile:
        iam.update_login_profile(UserName=user, Password=secret, PasswordResetRequired=False)
        ctx.did(f"new console password for {user} (the one it had was not saved)")
    else:
        iam.create_login_profile(UserName=user, Password=secret, PasswordResetRequired=False)
        ctx.did(f"console password for {user}")
    ctx.state.update(passwords_unsure=sorted(unsure - {user}))


def _ensure_access_keys(ctx: Context, iam) -> None:
    """Sandbox only: keys so the learner can act as each user, and the grader can check it."""
    keys = dict(ctx.state.load().get("access_keys", {}))
    for user in USERS:
        existing = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
        if keys.get(user, {}).get("id") in existing:
            continue
        for stale in existing:  # keys of the lab's own user whose secret is no longer known
            iam.delete_access_key(UserName=user, AccessKeyId=stale)
        made = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"id": made["AccessKeyId"], "secret": made["SecretAccessKey"]}
        ctx.state.update(access_keys=keys)  # at once: a key whose secret is lost is replaced by the next start
        ctx.did(f"access key for {user} (kept in {ctx.state.path})")


def _ensure_instance(ctx: Context) -> None:
    if ctx.lab_instances():
        return
    ctx.target.check_instance_type(INSTANCE_TYPE)
    ec2 = ctx.client("ec2")
    made = ec2.run_instances(
        ImageId=ctx.al2023_ami(), InstanceType=INSTANCE_TYPE, MinCount=1, MaxCount=1,
        TagSpecifications=ctx.tag_specs("instance", "volume", Name=INSTANCE_NAME))
    instance_id = made["Instances"][0]["InstanceId"]
    if ctx.target.name == "aws":
        ctx.target.wait(ec2, "instance_running", InstanceIds=[instance_id])
    ctx.did(f"instance {instance_id} ({INSTANCE_TYPE})")


def _ensure_bucket(ctx: Context) -> None:
    s3 = ctx.client("s3")
    name = bucket_name(ctx)
    if tolerate(lambda: s3.head_bucket(Bucket=name), "404", "NoSuchBucket", "NotFound") is None:
        extra = {} if ctx.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": ctx.region}}
        s3.create_bucket(Bucket=name, **extra)
        ctx.did(f"bucket {name}")
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": ctx.tag_list()})


def solve(ctx: Context) -> None:
    """The learner's steps: memberships, then user-3 stops the instance."""
    iam = ctx.client("iam")
    for user, group in MEMBERSHIP.items():
        iam.add_user_to_group(UserName=user, GroupName=group)
        ctx.did(f"{user} added to {group}")
    ec2, who = ctx.client("ec2"), ""
    key = ctx.state.load().get("access_keys", {}).get("user-3")
    if ctx.target.name == "embedded" and key:  # IAM is enforced there: a real test of 1.3
        ec2, who = ctx.target.client_as("ec2", key["id"], key["secret"], readonly_guard=False), " as user-3"
    for instance in ctx.lab_instances():
        if instance["State"]["Name"] != "stopped":
            ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
            if ctx.target.name == "aws":
                ctx.target.wait(ec2, "instance_stopped", InstanceIds=[instance["InstanceId"]])
            ctx.did(f"instance {instance['InstanceId']} stopped{who}")


def clean(ctx: Context) -> None:
    """Delete the lab's tagged users, its own groups, tagged instances and bucket."""
    iam = ctx.client("iam")
    for user in USERS:
        if tolerate(lambda: iam.get_user(UserName=user), "NoSuchEntity") is None:
            continue
        if not ctx.is_ours(iam.list_user_tags(UserName=user)["Tags"]):
            ctx.log(f"  left {user}: it was not made by lab 1")
            continue
        _delete_user(iam, user)
        ctx.did(f"deleted user {user}")
    for group in GROUPS:
        found = tolerate(lambda: iam.get_group(GroupName=group), "NoSuchEntity")
        if found is None or found["Group"]["Path"] != GROUP_PATH:
            continue
        for member in found["Users"]:
            iam.remove_user_from_group(GroupName=group, UserName=member["UserName"])
        for policy in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]:
            iam.detach_group_policy(GroupName=group, PolicyArn=policy["PolicyArn"])
        for name in iam.list_group_policies(GroupName=group)["PolicyNames"]:
            iam.delete_group_policy(GroupName=group, PolicyName=name)
        iam.delete_group(GroupName=group)
        ctx.did(f"deleted group {group}")
    ec2 = ctx.client("ec2")
    ids = [i["InstanceId"] for i in ctx.lab_instances()]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
        if ctx.target.name == "aws":
            ctx.target.wait(ec2, "instance_terminated", InstanceIds=ids)
        ctx.did(f"terminated {', '.join(ids)}")
    _delete_bucket(ctx)
    ctx.state.clear()


def _delete_user(iam, user: str) -> None:
    for group in iam.list_groups_for_user(UserName=user)["Groups"]:
        iam.remove_user_from_group(UserName=user, GroupName=group["GroupName"])
    tolerate(lambda: iam.delete_login_profile(UserName=user), "NoSuchEntity")
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    for name in iam.list_user_policies(UserName=user)["PolicyNames"]:
        iam.delete_user_policy(UserName=user, PolicyName=name)
    for policy in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=user, PolicyArn=policy["PolicyArn"])
    iam.delete_user(UserName=user)


def _delete_bucket(ctx: Context) -> None:
    s3 = ctx.client("s3")
    name = bucket_name(ctx)
    tagging = tolerate(lambda: s3.get_bucket_tagging(Bucket=name), "NoSuchBucket", "NoSuchTagSet", "404")
    if tagging is None or not ctx.is_ours(tagging["TagSet"]):
        return  # no bucket, or one the lab did not tag: not ours to delete
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if doomed:
            s3.delete_objects(Bucket=name, Delete={"Objects": doomed})
    s3.delete_bucket(Bucket=name)
    ctx.did(f"deleted bucket {name}")


def leftovers(ctx: Context) -> list[str]:
    """What the lab made that still exists (verify wants this empty after clean)."""
    iam = ctx.client("iam")
    found = []
    for user in USERS:
        if tolerate(lambda: iam.get_user(UserName=user), "NoSuchEntity") is not None and \
                ctx.is_ours(iam.list_user_tags(UserName=user)["Tags"]):
            found.append(f"user {user}")
    for group in iam.list_groups(PathPrefix=GROUP_PATH)["Groups"]:
        found.append(f"group {group['GroupName']}")
    found += [f"instance {i['InstanceId']}" for i in ctx.lab_instances()
              if i["State"]["Name"] not in GONE]
    s3 = ctx.client("s3")
    if tolerate(lambda: s3.head_bucket(Bucket=bucket_name(ctx)), "404", "NoSuchBucket") is not None:
        found.append(f"bucket {bucket_name(ctx)}")
    return found
