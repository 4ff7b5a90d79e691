"""Lab 2 on the sandbox: fresh fails, solved passes, each realistic mistake fails exactly its step,
and a learner who builds the same structure by hand, with other names, passes."""

import pytest

from bootcamp import userdata
from bootcamp.provision import AL2023_PARAMETER
from bootcamp.results import FAIL, PASS
from bootcamp.state import lab_files
from labs.lab2 import provision
from conftest import LabDriver, another_account

ALL = {"2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"}
AL2_PARAMETER = "/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-x86_64-gp2"


def test_start_writes_the_user_data_and_every_step_fails_with_a_hint(lab2):
    lab2.run("start")
    path = lab_files(lab2.settings.home, "2", "embedded", lab2.target.account_id) / "user-data.sh"
    assert userdata.inspect(path.read_text()).installs_app
    result = lab2.grade()
    assert [s.status for s in result.steps] == [FAIL] * 7
    assert all(s.hint and s.message for s in result.steps)
    assert "create lab-2-vpc with CIDR 10.0.0.0/16" in result.steps[0].message
    assert "finish step 2.1 first" in result.steps[1].message


def test_the_user_data_is_kept_per_account_so_another_account_neither_sees_nor_deletes_it(lab2):
    lab2.run("start")
    path = provision.user_data_path(lab2.context())
    other = LabDriver("2", another_account(lab2.settings))
    assert provision.leftovers(other.context()) == []
    other.run("clean")
    assert path.exists()
    lab2.run("clean")
    assert not path.parent.exists()


def test_solve_passes_every_step_and_the_app_answered(lab2):
    lab2.run("start")
    lab2.run("solve")
    result = lab2.grade()
    assert {s.id: s.status for s in result.steps} == dict.fromkeys(ALL, PASS)
    assert result.score == result.max_score == 14
    assert all(not s.notes for s in result.steps)  # 2.7 asked the app through the sandbox's edge


def test_korean_messages(lab2):
    lab2.run("start")
    by_id = {s.id: s for s in lab2.grade(lang="ko").steps}
    assert by_id["2.1"].title == "DNS 호스트 이름과 DNS 확인이 켜진 VPC 10.0.0.0/16"
    assert "기본 VPC 외에 VPC가 없습니다" in by_id["2.1"].message
    assert "VPC 생성" in by_id["2.1"].hint


# --- the learner's own resources, found by what they are -------------------------------------

def ec2(lab):
    return lab.client("ec2")


def lab_vpc(lab) -> str:
    return ec2(lab).describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["lab-2-vpc"]}])["Vpcs"][0]["VpcId"]


def subnet(lab, cidr) -> dict:
    return ec2(lab).describe_subnets(Filters=[{"Name": "cidr-block", "Values": [cidr]}])["Subnets"][0]


def public_table(lab) -> dict:
    return ec2(lab).describe_route_tables(
        Filters=[{"Name": "tag:Name", "Values": ["lab-2-rtb-public"]}])["RouteTables"][0]


def web_sg(lab) -> str:
    return ec2(lab).describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["Web Security Group"]}])["SecurityGroups"][0]["GroupId"]


def web_instance(lab) -> dict:
    found = ec2(lab).describe_instances(Filters=[
        {"Name": "tag:Name", "Values": ["Web Application"]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]}])
    return found["Reservations"][0]["Instances"][0]


def ami(lab, parameter=AL2023_PARAMETER) -> str:
    return lab.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]


def relaunch(lab, subnet_id=None, public_ip=True, user_data=None, image=None, name="Web Application"):
    """Replace the solved instance with one launched differently, as a learner launching again would."""
    old = web_instance(lab)
    ec2(lab).terminate_instances(InstanceIds=[old["InstanceId"]])
    ec2(lab).run_instances(
        ImageId=image or ami(lab), InstanceType="t3.micro", MinCount=1, MaxCount=1,
        UserData=userdata.render(lab.target.region) if user_data is None else user_data,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet_id or old["SubnetId"],
                            "Groups": [web_sg(lab)], "AssociatePublicIpAddress": public_ip}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}])


def dns_hostnames_off(lab):
    ec2(lab).modify_vpc_attribute(VpcId=lab_vpc(lab), EnableDnsHostnames={"Value": False})


def subnets_in_one_zone(lab):
    """Subnet 2 made again in subnet 1's zone (and associated like before)."""
    first, second = subnet(lab, "10.0.0.0/24"), subnet(lab, "10.0.1.0/24")
    table = public_table(lab)
    association = next(a for a in table["Associations"] if a.get("SubnetId") == second["SubnetId"])
    ec2(lab).disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    ec2(lab).delete_subnet(SubnetId=second["SubnetId"])
    again = ec2(lab).create_subnet(VpcId=first["VpcId"], CidrBlock="10.0.1.0/24",
                                   AvailabilityZone=first["AvailabilityZone"])["Subnet"]["SubnetId"]
    ec2(lab).associate_route_table(RouteTableId=table["RouteTableId"], SubnetId=again)


def igw_detached(lab):
    igw = ec2(lab).describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [lab_vpc(lab)]}])["InternetGateways"][0]
    ec2(lab).detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=lab_vpc(lab))


def route_on_a_table_no_subnet_uses(lab):
    for association in public_table(lab)["Associations"]:
        ec2(lab).disassociate_route_table(AssociationId=association["RouteTableAssociationId"])


def only_subnet_1_associated(lab):
    second = subnet(lab, "10.0.1.0/24")["SubnetId"]
    association = next(a for a in public_table(lab)["Associations"] if a.get("SubnetId") == second)
    ec2(lab).disassociate_route_table(AssociationId=association["RouteTableAssociationId"])


def ssh_instead_of_http(lab):
    sg = web_sg(lab)
    ec2(lab).revoke_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="0.0.0.0/0")
    ec2(lab).authorize_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0")


def http_from_one_address_only(lab):
    sg = web_sg(lab)
    ec2(lab).revoke_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="0.0.0.0/0")
    ec2(lab).authorize_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="203.0.113.7/32")


def t3_large(lab):
    instance = web_instance(lab)["InstanceId"]
    ec2(lab).stop_instances(InstanceIds=[instance])
    ec2(lab).modify_instance_attribute(InstanceId=instance, InstanceType={"Value": "t3.large"})
    ec2(lab).start_instances(InstanceIds=[instance])


def private_subnet(lab):
    made = ec2(lab).create_subnet(VpcId=lab_vpc(lab), CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    relaunch(lab, subnet_id=made)


def in_the_default_vpc(lab):
    default = ec2(lab).describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    sg = ec2(lab).create_security_group(GroupName="launch-wizard-1", Description="web",
                                        VpcId=default["VpcId"])["GroupId"]
    old = web_instance(lab)
    ec2(lab).terminate_instances(InstanceIds=[old["InstanceId"]])
    ec2(lab).run_instances(
        ImageId=ami(lab), InstanceType="t3.micro", MinCount=1, MaxCount=1, UserData=userdata.render(lab.target.region),
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": default["SubnetId"], "Groups": [sg],
                            "AssociatePublicIpAddress": True}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "Web Application"}]}])


def instance_stopped(lab):
    ec2(lab).stop_instances(InstanceIds=[web_instance(lab)["InstanceId"]])


# What 2.7's message names when a mistake closes the way in from the internet (the fix and its step).
SG_FIX = "allows TCP 80 from 0.0.0.0/0; add that inbound rule (step 2.5)"
ROUTE_FIX = "no route 0.0.0.0/0 to the internet gateway; add it or associate the public route table (step 2.4)"
MISTAKES = {
    # mistake: (what the learner did wrong after an otherwise right solution, the steps that must fail
    # (its own, and 2.7 where the mistake keeps the internet from the app, as on AWS), what 2.7 names)
    "DNS hostnames left off": (dns_hostnames_off, {"2.1"}, None),
    "both subnets in one AZ": (subnets_in_one_zone, {"2.2"}, None),
    "internet gateway not attached": (igw_detached, {"2.3", "2.7"}, "no internet gateway is attached to the instance's VPC"),
    "route to the IGW on a table no subnet uses": (route_on_a_table_no_subnet_uses, {"2.4", "2.7"}, ROUTE_FIX),
    "public route table on subnet 1 only": (only_subnet_1_associated, {"2.4"}, None),
    "port 22 open but not 80": (ssh_instead_of_http, {"2.5", "2.7"}, SG_FIX),
    "HTTP open to one address only": (http_from_one_address_only, {"2.5", "2.7"}, SG_FIX),
    "instance type t3.large": (t3_large, {"2.6"}, None),
    "instance in a subnet without a route to the IGW": (private_subnet, {"2.6", "2.7"}, ROUTE_FIX),
    "instance launched in the default VPC": (in_the_default_vpc, {"2.6", "2.7"}, "The way in is closed"),
    "no public IP": (lambda lab: relaunch(lab, public_ip=False), {"2.6", "2.7"}, "Auto-assign public IP enabled (step 2.6)"),
    "no user data": (lambda lab: relaunch(lab, user_data=""), {"2.6", "2.7"}, "Nothing listens on port 80"),
    "user data of another app": (lambda lab: relaunch(lab, user_data="#!/bin/bash\ndnf install -y httpd\n"),
                                 {"2.6", "2.7"}, "does not install the app"),
    "Amazon Linux 2 instead of 2023": (lambda lab: relaunch(lab, image=ami(lab, AL2_PARAMETER)), {"2.6"}, None),
    "instance stopped": (instance_stopped, {"2.7"}, "is stopped, so nothing answers"),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_realistic_mistake_fails_exactly_its_steps(lab2, mistake):
    make_mistake, steps, fix = MISTAKES[mistake]
    lab2.run("start")
    lab2.run("solve")
    make_mistake(lab2)
    result = {s.id: s for s in lab2.grade().steps}
    assert {i for i, s in result.items() if s.status != PASS} == steps
    if fix:
        assert fix in result["2.7"].message


# --- a learner who builds it by hand, with the CLI's calls, names of their own ----------------

def build_by_hand(lab, *, main_table=False, third_subnet=False, ssh=False, names=("my-vpc", "web-sg", "my-web")):
    client = ec2(lab)
    zones = [z["ZoneName"] for z in client.describe_availability_zones()["AvailabilityZones"]][:2]
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": names[0]}]}])["Vpc"]["VpcId"]
    client.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [client.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
               for cidr, zone in zip(("10.0.0.0/24", "10.0.1.0/24"), zones)]
    if third_subnet:
        client.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone=zones[0])
    igw = client.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    client.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    tables = client.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    table = tables[0]["RouteTableId"] if main_table else client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    client.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    if not main_table:
        for made in subnets:
            client.associate_route_table(RouteTableId=table, SubnetId=made)
    sg = client.create_security_group(GroupName=names[1], Description="web", VpcId=vpc)["GroupId"]
    client.authorize_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="0.0.0.0/0")
    if ssh:
        client.authorize_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0")
    client.run_instances(
        ImageId=ami(lab), InstanceType="t3.micro", MinCount=1, MaxCount=1, UserData=userdata.render(lab.target.region),
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnets[0], "Groups": [sg], "AssociatePublicIpAddress": True}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": names[2]}]}])


VARIANTS = {
    "other names everywhere": {},
    "an extra private subnet": {"third_subnet": True},
    "the VPC's main route table": {"main_table": True},
    "the course's names, by hand": {"names": ("lab-2-vpc", "Web Security Group", "Web Application")},
}


@pytest.mark.parametrize("variant", VARIANTS, ids=list(VARIANTS))
def test_a_valid_variant_passes(lab2, variant):
    lab2.run("start")
    build_by_hand(lab2, **VARIANTS[variant])
    assert lab2.failing() == set()


def test_ssh_from_anywhere_is_a_warning_not_a_failure(lab2):
    lab2.run("start")
    build_by_hand(lab2, ssh=True)
    step = lab2.step("2.5")
    assert step.status == PASS
    [warning] = step.notes
    assert warning.startswith("Warning: web-sg (sg-")
    assert warning.endswith("lets anyone on the internet reach SSH (TCP 22); the lab does not need it, "
                            "so remove that rule or limit it to your own IP.")


def test_clean_removes_what_solve_made_and_leaves_the_learners_own(lab2):
    lab2.run("start")
    build_by_hand(lab2)
    lab2.run("solve")
    lab2.run("clean")
    ctx_log = "\n".join(lab2.log)
    assert "left VPC my-vpc" in ctx_log and "you made it" in ctx_log
    vpcs = ec2(lab2).describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"]
    assert [v["Tags"][0]["Value"] for v in vpcs] == ["my-vpc"]
    assert lab2.lab.provision.leftovers(lab2.context()) == []
    interfaces = ec2(lab2).describe_network_interfaces(
        Filters=[{"Name": "vpc-id", "Values": [v["VpcId"] for v in vpcs]}])["NetworkInterfaces"]
    assert len(interfaces) == 1  # the learner's instance's, not one of the lab's
