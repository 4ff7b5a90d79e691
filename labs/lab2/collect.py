"""Lab 2 collector: the account's VPC network, its instances (with user data and image), and a live probe on AWS."""

from __future__ import annotations

import base64

from bootcamp import webapp
from bootcamp.collect import Reader
from bootcamp.inventory import Inventory
from bootcamp.provision import GONE, TAG_LAB, name_of, tag_value

USER_DATA_LIMIT = 10  # instances outside the default VPC whose user data is read


def collect(reader: Reader) -> Inventory:
    ec2 = reader.client("ec2")
    inv = Inventory()
    inv.fetch("vpcs", lambda: vpcs(ec2))
    inv.fetch("subnets", lambda: subnets(ec2))
    inv.fetch("internet_gateways", lambda: internet_gateways(ec2))
    inv.fetch("route_tables", lambda: route_tables(ec2))
    inv.fetch("security_groups", lambda: security_groups(ec2))
    inv.fetch("instances", lambda: instances(ec2, inv))
    inv.fetch("probe", lambda: probe(reader, inv))
    return inv


def lab_of(resource: dict) -> str:
    """The lab whose provisioning made it ('' for what the learner made)."""
    return tag_value(resource, TAG_LAB)


def _all(ec2, operation: str, key: str, **kwargs) -> list[dict]:
    return [item for page in ec2.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def vpcs(ec2) -> list[dict]:
    found = []
    for v in _all(ec2, "describe_vpcs", "Vpcs"):
        vpc = {"id": v["VpcId"], "name": name_of(v), "lab": lab_of(v), "cidr": v["CidrBlock"], "default": v.get("IsDefault", False)}
        if not vpc["default"]:  # the DNS settings are per VPC reads: only where a lab VPC can be
            for attribute, key in (("enableDnsHostnames", "EnableDnsHostnames"),
                                   ("enableDnsSupport", "EnableDnsSupport")):
                answer = ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute=attribute)
                vpc[attribute] = answer[key]["Value"]
        found.append(vpc)
    return found


def subnets(ec2) -> list[dict]:
    return [{"id": s["SubnetId"], "name": name_of(s), "lab": lab_of(s), "vpc": s["VpcId"], "cidr": s["CidrBlock"],
             "az": s["AvailabilityZone"], "map_public_ip": s.get("MapPublicIpOnLaunch", False)}
            for s in _all(ec2, "describe_subnets", "Subnets")]


def internet_gateways(ec2) -> list[dict]:
    return [{"id": g["InternetGatewayId"], "name": name_of(g), "lab": lab_of(g),
             "attached": [a["VpcId"] for a in g.get("Attachments", [])
                          if a.get("State") in ("available", "attached")]}
            for g in _all(ec2, "describe_internet_gateways", "InternetGateways")]


def route_tables(ec2) -> list[dict]:
    return [{"id": t["RouteTableId"], "name": name_of(t), "lab": lab_of(t), "vpc": t["VpcId"],
             "main": any(a.get("Main") for a in t.get("Associations", [])),
             "subnets": sorted(a["SubnetId"] for a in t.get("Associations", []) if a.get("SubnetId")),
             "routes": [{"destination": r.get("DestinationCidrBlock", r.get("DestinationIpv6CidrBlock", "")),
                         "target": r.get("GatewayId") or r.get("NatGatewayId") or r.get("NetworkInterfaceId")
                         or r.get("TransitGatewayId") or r.get("VpcPeeringConnectionId") or "",
                         "state": r.get("State", "")} for r in t.get("Routes", [])]}
            for t in _all(ec2, "describe_route_tables", "RouteTables")]


def security_groups(ec2) -> list[dict]:
    return [{"id": g["GroupId"], "name": g["GroupName"], "tag_name": name_of(g), "lab": lab_of(g), "vpc": g.get("VpcId", ""),
             "ingress": [{"protocol": p.get("IpProtocol", ""), "from": p.get("FromPort"), "to": p.get("ToPort"),
                          "cidrs": sorted({r["CidrIp"] for r in p.get("IpRanges", [])}
                                          | {r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])})}
                         for p in g.get("IpPermissions", [])]}
            for g in _all(ec2, "describe_security_groups", "SecurityGroups")]


def instances(ec2, inv: Inventory) -> list[dict]:
    found = []
    for page in ec2.get_paginator("describe_instances").paginate():
        for r in page["Reservations"]:
            for i in r["Instances"]:
                if i["State"]["Name"] in GONE:
                    continue
                found.append({"id": i["InstanceId"], "name": name_of(i), "lab": lab_of(i), "state": i["State"]["Name"],
                              "type": i["InstanceType"], "image": i.get("ImageId", ""), "image_name": "",
                              "vpc": i.get("VpcId", ""), "subnet": i.get("SubnetId", ""),
                              "public_ip": i.get("PublicIpAddress", ""),
                              "groups": _groups(i),
                              "profile": i.get("IamInstanceProfile", {}).get("Arn", ""),
                              "user_data": None})
    images = sorted({i["image"] for i in found if i["image"]})
    if images:
        names = {img["ImageId"]: img.get("Name", "")
                 for img in ec2.describe_images(ImageIds=images, IncludeDeprecated=True)["Images"]}
        for i in found:
            i["image_name"] = names.get(i["image"], "")
    default_vpcs = {v["id"] for v in inv.data.get("vpcs", []) if v["default"]}
    for i in [i for i in found if i["vpc"] not in default_vpcs][:USER_DATA_LIMIT]:
        answer = ec2.describe_instance_attribute(InstanceId=i["id"], Attribute="userData")
        raw = answer.get("UserData", {}).get("Value")
        i["user_data"] = base64.b64decode(raw).decode("utf-8", "replace") if raw else ""
    return found


def _groups(instance: dict) -> list[str]:
    """The instance's groups, also as its network interfaces report them (emulators fill only one)."""
    found = [g["GroupId"] for g in instance.get("SecurityGroups", [])]
    found += [g["GroupId"] for eni in instance.get("NetworkInterfaces", []) for g in eni.get("Groups", [])]
    return sorted(set(found))


def probe(reader: Reader, inv: Inventory) -> dict:
    """A live HTTP answer from each running instance with a public IP, where instances really run
    (AWS, and the sandbox through its edge, which lets a request in only where AWS would)."""
    if not reader.target.runs_instances:
        return {"method": "none", "target": reader.target.name, "answers": {}}
    answers = {}
    for i in inv.data.get("instances", []):
        if i["state"] == "running" and i["public_ip"]:
            answers[i["id"]] = http_probe(reader.target.public_url(i["public_ip"]))
    return {"method": "http", "target": reader.target.name, "answers": answers}


def http_probe(base_url: str) -> dict:
    answer = webapp.ask(base_url, employees=False)
    return {"url": f"{base_url}/api/settings", "status": answer["status"], "error": answer["error"],
            "app": (answer["settings"] or {}).get("app")}
