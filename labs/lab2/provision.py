"""Lab 2 provisioning: the app's user data for the learner, the learner's steps done right, cleanup."""

from __future__ import annotations

from pathlib import Path

from bootcamp import network, userdata
from bootcamp.provision import GONE, Context, name_of
from bootcamp.state import lab_files

LAYOUT = network.Layout(vpc="lab-2-vpc", subnets=("lab-2-subnet-public1", "lab-2-subnet-public2"),
                        igw="lab-2-igw", route_table="lab-2-rtb-public")


def user_data_path(ctx: Context) -> Path:
    """Per target and account, as lab 3's photos: another account's start or clean never touches it."""
    return lab_files(ctx.home, ctx.lab.id, ctx.target.name, ctx.account) / "user-data.sh"


def start(ctx: Context) -> None:
    """Nothing in the account: the learner builds it all. Write the app's user data for step 2.6."""
    path = user_data_path(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    script = userdata.render(ctx.region)
    if not path.exists() or path.read_text() != script:
        path.write_text(script)
        ctx.did(f"user data for step 2.6 written to {path}")
    ctx.state.update(user_data=str(path))


def solve(ctx: Context) -> None:
    net = network.build(ctx, LAYOUT)
    network.web_instance(ctx, LAYOUT, net, userdata.render(ctx.region))


def clean(ctx: Context) -> None:
    network.clean(ctx)
    for what in _learners_own(ctx):
        ctx.log(f"  left {what}: you made it, and lab.clean deletes only what the lab tagged "
                "(delete it in the console, or `invoke sandbox.reset` on the sandbox)")
    user_data_path(ctx).unlink(missing_ok=True)
    ctx.state.clear()


def _learners_own(ctx: Context) -> list[str]:
    """Lab 2 look-alikes the learner built by hand: named, never deleted, so the learner knows."""
    ec2 = ctx.client("ec2")
    untagged = [v for v in ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": [network.VPC_CIDR]}])["Vpcs"]
                if not ctx.is_ours(v.get("Tags"))]
    found = [f"VPC {name_of(v) or v['VpcId']} ({v['VpcId']})" for v in untagged]
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag:Name", "Values": [LAYOUT.instance]}])
    found += [f"instance {LAYOUT.instance} ({i['InstanceId']})" for page in pages
              for r in page["Reservations"] for i in r["Instances"]
              if i["State"]["Name"] not in GONE and not ctx.is_ours(i.get("Tags"))]
    return found


def leftovers(ctx: Context) -> list[str]:
    found = network.leftovers(ctx)
    if user_data_path(ctx).exists():
        found.append(f"file {user_data_path(ctx)}")
    return found
