"""EmployeeDirectoryAppRole: the instance role the course gives the app in labs 3 and 4, with its
instance profile. It may list tables, work with the items of table Employees, and read and write
the photo bucket (whose name the learner picks: employee-photo-bucket-*)."""

from __future__ import annotations

import json

import botocore.exceptions as bx

from bootcamp.provision import Context, error_code, tolerate

ROLE = "EmployeeDirectoryAppRole"
POLICY = "EmployeeDirectoryAccess"
TABLE = "Employees"
BUCKETS = "employee-photo-bucket-*"
EC2_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE}"


def permissions(account: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "FindTheTable", "Effect": "Allow", "Action": "dynamodb:ListTables", "Resource": "*"},
        {"Sid": "EmployeeItems", "Effect": "Allow",
         "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                    "dynamodb:Scan"],
         "Resource": f"arn:aws:dynamodb:*:{account}:table/{TABLE}"},
        {"Sid": "PhotoBucket", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
         "Resource": f"arn:aws:s3:::{BUCKETS}"},
        {"Sid": "Photos", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{BUCKETS}/*"}]}


def ensure(ctx: Context) -> str:
    """The role, its permissions and its instance profile (same name); returns the profile's name."""
    iam = ctx.client("iam")
    try:
        role = iam.get_role(RoleName=ROLE)["Role"]
        tags = iam.list_role_tags(RoleName=ROLE)["Tags"]
        if not ctx.is_ours(tags):
            ctx.refuse_foreign("IAM role", ROLE, tags)
    except bx.ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        role = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(EC2_TRUST),
                               Description="The Employee Directory app on EC2 (AWS Bootcamp Labs)",
                               Tags=ctx.tag_list())["Role"]
        ctx.did(f"IAM role {ROLE}")
    iam.put_role_policy(RoleName=ROLE, PolicyName=POLICY, PolicyDocument=json.dumps(permissions(ctx.account)))
    try:
        profile = iam.get_instance_profile(InstanceProfileName=ROLE)["InstanceProfile"]
    except bx.ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        profile = iam.create_instance_profile(InstanceProfileName=ROLE, Tags=ctx.tag_list())["InstanceProfile"]
        ctx.did(f"instance profile {ROLE}")
    if not any(r["RoleName"] == ROLE for r in profile.get("Roles", [])):
        iam.add_role_to_instance_profile(InstanceProfileName=ROLE, RoleName=role["RoleName"])
    if ctx.target.name == "aws":  # a new profile takes a few seconds to be usable by EC2
        ctx.target.wait(iam, "instance_profile_exists", InstanceProfileName=ROLE)
    return ROLE


def clean(ctx: Context) -> None:
    """Delete the role and its profile when this lab made them; a learner's own are left alone."""
    iam = ctx.client("iam")
    try:
        tags = iam.list_role_tags(RoleName=ROLE)["Tags"]
    except bx.ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return
        raise
    if not ctx.is_ours(tags):
        return
    for profile in iam.list_instance_profiles_for_role(RoleName=ROLE)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=ROLE)
        if profile["InstanceProfileName"] == ROLE:
            iam.delete_instance_profile(InstanceProfileName=ROLE)
            ctx.did(f"deleted instance profile {ROLE}")
    tolerate(lambda: iam.delete_instance_profile(InstanceProfileName=ROLE), "NoSuchEntity")
    for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]:
        iam.delete_role_policy(RoleName=ROLE, PolicyName=name)
    for attached in iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=ROLE, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=ROLE)
    ctx.did(f"deleted IAM role {ROLE}")


def leftovers(ctx: Context) -> list[str]:
    iam = ctx.client("iam")
    try:
        tags = iam.list_role_tags(RoleName=ROLE)["Tags"]
    except bx.ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return []
        raise
    return [f"IAM role {ROLE}"] if ctx.is_ours(tags) else []
