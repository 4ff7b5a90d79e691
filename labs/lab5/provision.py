"""Lab 5 provisioning: lab 4's end state (lab 4's own solve, tagged for lab 5); the learner's steps done
right (a distribution in front of the load balancer with an /updates/* behaviour that caches and a default
one that does not, deployed, and LoadBalancerSG admitting only CloudFront's origin-facing addresses);
cleanup by tag (a distribution is disabled, deployed, then deleted)."""

from __future__ import annotations

import time
import uuid

from bootcamp.errors import BootcampError
from bootcamp.provision import Context
from labs.lab4 import provision as lab4

LB_SG, LOAD_BALANCER = lab4.LB_SG, lab4.LOAD_BALANCER
ORIGIN_ID = "Web-Application-ALB"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
READ_METHODS = ["GET", "HEAD"]
UPDATES = "/updates/*"
COMMENT = "Employee Directory: software updates offloaded (lab 5)"
user_data_path = lab4.user_data_path


def start(ctx: Context) -> None:
    """What the course prepares: lab 4's end state (its solve: the load balancer, the group serving in two AZs)."""
    _refuse_lab4s_world(ctx)
    lab4.solve(ctx)
    ctx.log(f"  the load balancer {LOAD_BALANCER} serves the app; the update files are at /updates/")


def _refuse_lab4s_world(ctx: Context) -> None:
    """Lab 4 solved in this account is its own (same names, same network): refused before anything is made,
    with the command that cleans it, as lab 4 refuses lab 3."""
    for group in lab4._groups(ctx):
        if group["AutoScalingGroupName"] == lab4.GROUP and not ctx.is_ours(group.get("Tags")):
            ctx.refuse_foreign("Auto Scaling group", lab4.GROUP, group.get("Tags"))


def solve(ctx: Context) -> None:
    start(ctx)
    cloudfront = ctx.client("cloudfront")
    balancer = ctx.client("elbv2").describe_load_balancers(Names=[LOAD_BALANCER])["LoadBalancers"][0]
    ours = our_distributions(ctx)
    if ours:
        dist_id = ours[0]["Id"]
    else:
        made = cloudfront.create_distribution_with_tags(DistributionConfigWithTags={
            "DistributionConfig": distribution_config(balancer["DNSName"], str(uuid.uuid4())),
            "Tags": {"Items": ctx.tag_list()}})["Distribution"]
        dist_id = made["Id"]
        ctx.did(f"CloudFront distribution {dist_id} ({made['DomainName']}) in front of {LOAD_BALANCER}")
    _until_deployed(ctx, dist_id)
    _admit_only_cloudfront(ctx, balancer["SecurityGroups"])


def distribution_config(origin_domain: str, reference: str) -> dict:
    """The course's distribution: the load balancer as an HTTP-only custom origin; /updates/* cached for a day
    at least (Managed-CachingOptimized), everything else through uncached with all of the viewer's request."""
    return {
        "CallerReference": reference, "Comment": COMMENT, "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": ORIGIN_ID, "DomainName": origin_domain,
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": ORIGIN_ID, "ViewerProtocolPolicy": "redirect-to-https", "Compress": True,
            "CachePolicyId": CACHING_DISABLED, "OriginRequestPolicyId": ALL_VIEWER,
            "AllowedMethods": {"Quantity": 7, "Items": ALL_METHODS,
                               "CachedMethods": {"Quantity": 2, "Items": READ_METHODS}}},
        "CacheBehaviors": {"Quantity": 1, "Items": [{
            "PathPattern": UPDATES, "TargetOriginId": ORIGIN_ID, "ViewerProtocolPolicy": "redirect-to-https",
            "Compress": True, "CachePolicyId": CACHING_OPTIMIZED,
            "AllowedMethods": {"Quantity": 2, "Items": READ_METHODS,
                               "CachedMethods": {"Quantity": 2, "Items": READ_METHODS}}}]},
        "PriceClass": "PriceClass_100"}


def _until_deployed(ctx: Context, dist_id: str) -> None:
    """Wait for the distribution to reach every edge location (AWS: minutes; the sandbox deploys at once)."""
    cloudfront = ctx.client("cloudfront")
    if ctx.target.name == "aws":
        ctx.log(f"  waiting for distribution {dist_id} to deploy (CloudFront takes a few minutes)")
        ctx.target.wait(cloudfront, "distribution_deployed", Id=dist_id)
        return
    deadline = time.monotonic() + 60
    while cloudfront.get_distribution(Id=dist_id)["Distribution"]["Status"] != "Deployed":
        if time.monotonic() > deadline:
            raise BootcampError(f"distribution {dist_id} did not deploy within a minute: run the same command again")
        time.sleep(0.2)


def origin_facing_list(ctx: Context) -> str:
    found = ctx.client("ec2").describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [ORIGIN_FACING]}])["PrefixLists"]
    if not found:
        raise BootcampError(f"the managed prefix list {ORIGIN_FACING} is not in {ctx.region}: use another region")
    return found[0]["PrefixListId"]


def _admit_only_cloudfront(ctx: Context, groups: list[str]) -> None:
    """LoadBalancerSG: HTTP 80 from CloudFront's origin-facing prefix list, and no longer from anywhere."""
    ec2 = ctx.client("ec2")
    prefix_list = origin_facing_list(ctx)
    for group in ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]:
        if group["GroupName"] != LB_SG:
            continue
        rules = group["IpPermissions"]
        if not any(p.get("FromPort") == 80 and any(x["PrefixListId"] == prefix_list for x in p.get("PrefixListIds", []))
                   for p in rules):
            ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[{
                "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                "PrefixListIds": [{"PrefixListId": prefix_list, "Description": "HTTP from CloudFront only"}]}])
            ctx.did(f"security group {LB_SG}: TCP 80 from {ORIGIN_FACING} ({prefix_list})")
        world = [{"IpProtocol": p["IpProtocol"], "FromPort": p["FromPort"], "ToPort": p["ToPort"],
                  "IpRanges": [{"CidrIp": r["CidrIp"]} for r in p.get("IpRanges", []) if r["CidrIp"] == "0.0.0.0/0"]}
                 for p in rules if any(r["CidrIp"] == "0.0.0.0/0" for r in p.get("IpRanges", []))]
        if world:
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=world)
            ctx.did(f"security group {LB_SG}: the rule for 0.0.0.0/0 removed")


def _distributions(ctx: Context) -> list[dict]:
    pages = ctx.client("cloudfront").get_paginator("list_distributions").paginate()
    return [d for page in pages for d in (page["DistributionList"].get("Items") or [])]


def _tagged(ctx: Context, distribution: dict) -> bool:
    tags = ctx.client("cloudfront").list_tags_for_resource(Resource=distribution["ARN"])["Tags"].get("Items", [])
    return ctx.is_ours(tags)


def our_distributions(ctx: Context) -> list[dict]:
    return [d for d in _distributions(ctx) if _tagged(ctx, d)]


def clean(ctx: Context) -> None:
    """Our distributions first (disabled, deployed, deleted: AWS deletes no enabled one), then lab 4's world."""
    cloudfront = ctx.client("cloudfront")
    ours = our_distributions(ctx)
    for d in ours:
        found = cloudfront.get_distribution_config(Id=d["Id"])
        etag, config = found["ETag"], found["DistributionConfig"]
        if config["Enabled"]:
            config["Enabled"] = False
            etag = cloudfront.update_distribution(Id=d["Id"], IfMatch=etag, DistributionConfig=config)["ETag"]
            ctx.did(f"disabled distribution {d['Id']}")
        _until_deployed(ctx, d["Id"])
        etag = cloudfront.get_distribution(Id=d["Id"])["ETag"]
        cloudfront.delete_distribution(Id=d["Id"], IfMatch=etag)
        ctx.did(f"deleted distribution {d['Id']} ({d['DomainName']})")
    theirs = [d for d in _distributions(ctx) if d not in ours]
    lab4.clean(ctx)
    for d in theirs:
        ctx.log(f"  left distribution {d['Id']} ({d['DomainName']}): you made it, and lab.clean deletes only what "
                "the lab tagged (disable it, then delete it in the console)")


def leftovers(ctx: Context) -> list[str]:
    found = [f"distribution {d['Id']}" for d in our_distributions(ctx)]
    return found + lab4.leftovers(ctx)
