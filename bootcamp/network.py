"""The lab network (VPC, two public subnets, internet gateway, routes, web security group)
and the web instance, built the way a careful learner builds them and removed by tag.

Lab 2 has the learner build this; labs 3 and 4 start from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import botocore.exceptions as bx

from bootcamp.errors import BootcampError
from bootcamp.provision import GONE, Context, error_code, name_of, tag_value, tolerate

VPC_CIDR = "10.0.0.0/16"
SUBNET_CIDRS = ("10.0.0.0/24", "10.0.1.0/24")
WORLD = "0.0.0.0/0"
INSTANCE_TYPE = "t3.micro"


@dataclass(frozen=True)
class Layout:
    """The names a lab gives its network; the structure is the same in every lab."""

    vpc: str
    subnets: tuple[str, str] = ("Public Subnet 1", "Public Subnet 2")
    igw: str = "Lab IGW"
    route_table: str = "Public Route Table"
    web_sg: str = "Web Security Group"
    web_sg_tag: str = "WebAppSG"
    instance: str = "Web Application"


@dataclass
class Network:
    vpc: str = ""
    subnets: list[str] = field(default_factory=list)
    igw: str = ""
    route_table: str = ""
    web_sg: str = ""


def _ours(ctx: Context, describe, key: str, *filters: dict) -> list[dict]:
    return describe(Filters=ctx.tag_filters() + list(filters))[key]


def _named(name: str) -> dict:
    return {"Name": "tag:Name", "Values": [name]}


def _in_vpc(vpc: str) -> dict:
    return {"Name": "vpc-id", "Values": [vpc]}


def two_zones(ctx: Context) -> list[str]:
    zones = ctx.client("ec2").describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}])
    names = sorted(z["ZoneName"] for z in zones["AvailabilityZones"])
    if len(names) < 2:
        raise BootcampError(f"region {ctx.region} offers fewer than two Availability Zones: use another region")
    return names[:2]


def build(ctx: Context, layout: Layout) -> Network:
    """Create whatever of the network is missing (found by the lab's tags); idempotent."""
    ec2 = ctx.client("ec2")
    net = Network()
    found = _ours(ctx, ec2.describe_vpcs, "Vpcs", _named(layout.vpc))
    if found:
        net.vpc = found[0]["VpcId"]
    else:
        net.vpc = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=ctx.tag_specs(
            "vpc", Name=layout.vpc))["Vpc"]["VpcId"]
        ctx.did(f"VPC {layout.vpc} {net.vpc} ({VPC_CIDR})")
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):  # hostnames need support on first
        ec2.modify_vpc_attribute(VpcId=net.vpc, **{attribute: {"Value": True}})
    existing = {s["CidrBlock"]: s["SubnetId"] for s in
                ec2.describe_subnets(Filters=[_in_vpc(net.vpc)])["Subnets"]}
    for name, cidr, zone in zip(layout.subnets, SUBNET_CIDRS, two_zones(ctx)):
        if cidr not in existing:
            existing[cidr] = ec2.create_subnet(
                VpcId=net.vpc, CidrBlock=cidr, AvailabilityZone=zone,
                TagSpecifications=ctx.tag_specs("subnet", Name=name))["Subnet"]["SubnetId"]
            ec2.modify_subnet_attribute(SubnetId=existing[cidr], MapPublicIpOnLaunch={"Value": True})
            ctx.did(f"subnet {name} {existing[cidr]} ({cidr}, {zone})")
        net.subnets.append(existing[cidr])
    net.igw = _internet_gateway(ctx, layout, net.vpc)
    net.route_table = _public_routes(ctx, layout, net)
    net.web_sg = _web_security_group(ctx, layout, net.vpc)
    return net


def _internet_gateway(ctx: Context, layout: Layout, vpc: str) -> str:
    ec2 = ctx.client("ec2")
    found = _ours(ctx, ec2.describe_internet_gateways, "InternetGateways", _named(layout.igw))
    if found:
        igw = found[0]
    else:
        igw = ec2.create_internet_gateway(TagSpecifications=ctx.tag_specs(
            "internet-gateway", Name=layout.igw))["InternetGateway"]
        ctx.did(f"internet gateway {layout.igw} {igw['InternetGatewayId']}")
    if not any(a["VpcId"] == vpc for a in igw.get("Attachments", [])):
        ec2.attach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc)
        ctx.did(f"internet gateway attached to {vpc}")
    return igw["InternetGatewayId"]


def _public_routes(ctx: Context, layout: Layout, net: Network) -> str:
    ec2 = ctx.client("ec2")
    found = _ours(ctx, ec2.describe_route_tables, "RouteTables", _named(layout.route_table), _in_vpc(net.vpc))
    if found:
        table = found[0]
    else:
        table = ec2.create_route_table(VpcId=net.vpc, TagSpecifications=ctx.tag_specs(
            "route-table", Name=layout.route_table))["RouteTable"]
        ctx.did(f"route table {layout.route_table} {table['RouteTableId']}")
    rtb = table["RouteTableId"]
    if not any(r.get("DestinationCidrBlock") == WORLD for r in table.get("Routes", [])):
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=WORLD, GatewayId=net.igw)
        ctx.did(f"route {WORLD} -> {net.igw}")
    associated = {a.get("SubnetId") for a in table.get("Associations", [])}
    for subnet in net.subnets:
        if subnet not in associated:
            ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
            ctx.did(f"{subnet} associated with {rtb}")
    return rtb


def _web_security_group(ctx: Context, layout: Layout, vpc: str) -> str:
    ec2 = ctx.client("ec2")
    found = _ours(ctx, ec2.describe_security_groups, "SecurityGroups", _in_vpc(vpc),
                  {"Name": "group-name", "Values": [layout.web_sg]})
    if found:
        return found[0]["GroupId"]
    sg = ec2.create_security_group(
        GroupName=layout.web_sg, Description="HTTP from anywhere to the Employee Directory app", VpcId=vpc,
        TagSpecifications=ctx.tag_specs("security-group", Name=layout.web_sg_tag))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
        "IpRanges": [{"CidrIp": WORLD, "Description": "HTTP from anywhere"}]}])
    ctx.did(f"security group {layout.web_sg} {sg} (TCP 80 from {WORLD})")
    return sg


def web_instance(ctx: Context, layout: Layout, net: Network, user_data: str,
                 instance_profile: str | None = None) -> str:
    """The app's instance in public subnet 1 with a public IP; found again by tag when it exists."""
    ec2 = ctx.client("ec2")
    found = [i for i in ctx.lab_instances() if name_of(i) == layout.instance]
    if found:
        return found[0]["InstanceId"]
    ctx.target.check_instance_type(INSTANCE_TYPE)
    extra = {"IamInstanceProfile": {"Name": instance_profile}} if instance_profile else {}

    def launch():
        return ec2.run_instances(
            ImageId=ctx.al2023_ami(), InstanceType=INSTANCE_TYPE, MinCount=1, MaxCount=1, UserData=user_data,
            NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": net.subnets[0], "Groups": [net.web_sg],
                                "AssociatePublicIpAddress": True}],
            TagSpecifications=ctx.tag_specs("instance", "volume", Name=layout.instance), **extra)
    made = _until_profile_usable(ctx, launch) if instance_profile else launch()
    instance = made["Instances"][0]["InstanceId"]
    if ctx.target.name == "aws":
        ctx.target.wait(ec2, "instance_running", InstanceIds=[instance])
    ctx.did(f"instance {layout.instance} {instance} ({INSTANCE_TYPE}, public subnet 1)")
    return instance


def _until_profile_usable(ctx: Context, launch, tries: int = 12, pause: float = 5.0):
    """EC2 refuses a new instance profile for a few seconds after IAM made it (on AWS)."""
    for attempt in range(tries):
        try:
            return launch()
        except bx.ClientError as exc:
            young = error_code(exc) == "InvalidParameterValue" and "iamInstanceProfile" in str(exc)
            if not young or ctx.target.name != "aws" or attempt == tries - 1:
                raise
            time.sleep(ctx.target.pause(pause))


def blockers(ctx: Context) -> list[str]:
    """What the learner made inside the lab's VPCs, which would keep them from being deleted."""
    ec2 = ctx.client("ec2")
    vpcs = sorted(v["VpcId"] for v in _ours(ctx, ec2.describe_vpcs, "Vpcs"))
    if not vpcs:
        return []
    inside = {"Name": "vpc-id", "Values": vpcs}
    found = []
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[inside])
    for instance in (i for page in pages for r in page["Reservations"] for i in r["Instances"]):
        if instance["State"]["Name"] in GONE or ctx.is_ours(instance.get("Tags")):
            continue
        group = tag_value(instance, "aws:autoscaling:groupName")
        found.append(f"Auto Scaling group {group}" if group else
                     f"instance {name_of(instance) or instance['InstanceId']} ({instance['InstanceId']})")
    found += [f"subnet {_label(s, 'SubnetId')}" for s in ec2.describe_subnets(Filters=[inside])["Subnets"]
              if not ctx.is_ours(s.get("Tags"))]
    found += [f"security group {g['GroupName']} ({g['GroupId']})"
              for g in ec2.describe_security_groups(Filters=[inside])["SecurityGroups"]
              if g["GroupName"] != "default" and not ctx.is_ours(g.get("Tags"))]
    found += [f"route table {_label(t, 'RouteTableId')}" for t in ec2.describe_route_tables(Filters=[inside])["RouteTables"]
              if not ctx.is_ours(t.get("Tags")) and not any(a.get("Main") for a in t.get("Associations", []))]
    found += [f"internet gateway {_label(g, 'InternetGatewayId')}" for g in ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": vpcs}])["InternetGateways"] if not ctx.is_ours(g.get("Tags"))]
    found += [f"network interface {n['NetworkInterfaceId']}" for n in ec2.describe_network_interfaces(
        Filters=[inside])["NetworkInterfaces"]
              if not n.get("Attachment", {}).get("InstanceId") and not n.get("Description", "").startswith("ELB ")
              and not ctx.is_ours(n.get("TagSet"))]
    return list(dict.fromkeys(found))


def _label(resource: dict, id_key: str) -> str:
    return f"{name_of(resource)} ({resource[id_key]})" if name_of(resource) else resource[id_key]


def refuse_blockers(ctx: Context, found: list[str]) -> None:
    """Refuse a clean while the learner's own resources use the lab's network, naming them all."""
    if not found:
        return
    one = len(found) == 1
    raise BootcampError(
        f"your {' and your '.join(found)} {'uses' if one else 'use'} the lab network, and lab.clean deletes "
        f"only what the lab tagged: delete {'it' if one else 'them'} first (in the console's VPC and EC2 pages), "
        f"then run `invoke lab.clean {ctx.lab.id}` again")


def clean(ctx: Context) -> None:
    """Delete the lab's tagged instances and network, dependents first; nothing untagged.

    Anything of the learner's inside the network is looked for first: while there is, nothing changes.
    """
    refuse_blockers(ctx, blockers(ctx))
    ec2 = ctx.client("ec2")
    instances = [i["InstanceId"] for i in ctx.lab_instances()]
    if instances:
        ec2.terminate_instances(InstanceIds=instances)
        if ctx.target.name == "aws":  # their network interfaces hold the subnets and groups
            ctx.target.wait(ec2, "instance_terminated", InstanceIds=instances)
        ctx.did(f"terminated {', '.join(instances)}")
    vpcs = [v["VpcId"] for v in _ours(ctx, ec2.describe_vpcs, "Vpcs")]
    for sg in _ours(ctx, ec2.describe_security_groups, "SecurityGroups"):
        ec2.delete_security_group(GroupId=sg["GroupId"])
        ctx.did(f"deleted security group {sg['GroupName']} {sg['GroupId']}")
    for table in _ours(ctx, ec2.describe_route_tables, "RouteTables"):
        for association in table.get("Associations", []):
            if not association.get("Main"):
                ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
        ec2.delete_route_table(RouteTableId=table["RouteTableId"])
        ctx.did(f"deleted route table {name_of(table)} {table['RouteTableId']}")
    for igw in _ours(ctx, ec2.describe_internet_gateways, "InternetGateways"):
        for attachment in igw.get("Attachments", []):
            ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=attachment["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
        ctx.did(f"deleted internet gateway {name_of(igw)} {igw['InternetGatewayId']}")
    for subnet in _ours(ctx, ec2.describe_subnets, "Subnets"):
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ctx.did(f"deleted subnet {name_of(subnet)} {subnet['SubnetId']}")
    for vpc in vpcs:
        tolerate(lambda: ec2.delete_vpc(VpcId=vpc), "InvalidVpcID.NotFound")
        ctx.did(f"deleted VPC {vpc}")


def leftovers(ctx: Context) -> list[str]:
    """The lab's tagged network and instances that still exist."""
    ec2 = ctx.client("ec2")
    found = [f"instance {i['InstanceId']}" for i in ctx.lab_instances() if i["State"]["Name"] not in GONE]
    for kind, describe, key, id_key in (
            ("VPC", ec2.describe_vpcs, "Vpcs", "VpcId"),
            ("subnet", ec2.describe_subnets, "Subnets", "SubnetId"),
            ("internet gateway", ec2.describe_internet_gateways, "InternetGateways", "InternetGatewayId"),
            ("route table", ec2.describe_route_tables, "RouteTables", "RouteTableId"),
            ("security group", ec2.describe_security_groups, "SecurityGroups", "GroupId")):
        found += [f"{kind} {r[id_key]}" for r in _ours(ctx, describe, key)]
    return found
