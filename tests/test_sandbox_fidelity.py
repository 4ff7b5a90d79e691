"""The sandbox answers as AWS does where moto 5.2.5 does not: EC2 dry runs, a root's identity, an
instance's groups from its network interface, targets that are no instance, Inactive keys, and
CORS headers only from a bucket's rules."""

import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from bootcamp.sandbox import control
from conftest import an_image
from test_sandbox_lab4 import REGION, aws, aws_json, client  # noqa: F401 (aws, aws_json: fixtures)


def error_code(call) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"]


def iam_user(settings, name: str, *allowed: str) -> tuple[str, str]:
    """An IAM user of the fixture's account allowed these actions on "*"; its key and secret."""
    iam = client(settings, "iam")
    iam.create_user(UserName=name)
    if allowed:
        iam.put_user_policy(UserName=name, PolicyName="allowed", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(allowed), "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def as_user(settings, service: str, key: tuple[str, str]):
    return boto3.client(service, endpoint_url=control.endpoint(settings), region_name=REGION,
                        aws_access_key_id=key[0], aws_secret_access_key=key[1])


def network(ec2) -> dict:
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    return {"vpc": vpc, "subnet": subnet, "table": table, "gateway": gateway}


def picture(ec2) -> dict:
    return {"vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]),
            "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]),
            "tables": sorted((t["RouteTableId"], len(t["Routes"]), len(t["Associations"]))
                             for t in ec2.describe_route_tables()["RouteTables"]),
            "groups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"])}


DRY_RUNS = {  # the EC2 writes moto ran for real when asked a dry run, and a few it did not
    "CreateVpc": lambda ec2, n: ec2.create_vpc(CidrBlock="10.8.0.0/16", DryRun=True),
    "CreateSubnet": lambda ec2, n: ec2.create_subnet(VpcId=n["vpc"], CidrBlock="10.7.2.0/24", DryRun=True),
    "CreateRouteTable": lambda ec2, n: ec2.create_route_table(VpcId=n["vpc"], DryRun=True),
    "CreateRoute": lambda ec2, n: ec2.create_route(RouteTableId=n["table"], DestinationCidrBlock="0.0.0.0/0",
                                                   GatewayId=n["gateway"], DryRun=True),
    "AssociateRouteTable": lambda ec2, n: ec2.associate_route_table(RouteTableId=n["table"], SubnetId=n["subnet"],
                                                                    DryRun=True),
    "DeleteSubnet": lambda ec2, n: ec2.delete_subnet(SubnetId=n["subnet"], DryRun=True),
    "DeleteVpc": lambda ec2, n: ec2.delete_vpc(VpcId=n["vpc"], DryRun=True),
    "CreateSecurityGroup": lambda ec2, n: ec2.create_security_group(GroupName="web", Description="web",
                                                                    VpcId=n["vpc"], DryRun=True),
    "DeleteRouteTable": lambda ec2, n: ec2.delete_route_table(RouteTableId=n["table"], DryRun=True),
}


def test_an_ec2_dry_run_is_judged_and_changes_nothing(settings):
    ec2 = client(settings, "ec2")
    built = network(ec2)
    before = picture(ec2)
    allowed = as_user(settings, "ec2", iam_user(settings, "networker", "ec2:*"))
    denied = as_user(settings, "ec2", iam_user(settings, "reader", "ec2:Describe*"))
    for action, call in DRY_RUNS.items():
        assert error_code(lambda: call(ec2, built)) == "DryRunOperation", f"root {action}"
        assert error_code(lambda: call(allowed, built)) == "DryRunOperation", f"allowed {action}"
        assert error_code(lambda: call(denied, built)) == "UnauthorizedOperation", f"denied {action}"
    assert picture(ec2) == before


def test_an_ec2_dry_run_through_the_aws_cli(settings, aws, aws_json):
    done = aws(settings, "ec2", "create-vpc", "--cidr-block", "10.9.0.0/16", "--dry-run")
    assert done.returncode != 0 and "(DryRunOperation)" in done.stderr
    assert aws_json(settings, "ec2", "describe-vpcs", "--filters", "Name=cidr,Values=10.9.0.0/16")["Vpcs"] == []


def test_an_ec2_refusal_is_unauthorized_operation_naming_the_action(settings):
    denied = as_user(settings, "ec2", iam_user(settings, "nobody"))
    with pytest.raises(ClientError) as refused:
        denied.describe_vpcs()
    error = refused.value.response["Error"]
    assert error["Code"] == "UnauthorizedOperation" and "ec2:DescribeVpcs" in error["Message"]


def test_the_caller_identity_of_an_account_root(settings, aws_json):
    account = settings.sandbox_account
    answer = aws_json(settings, "sts", "get-caller-identity")
    assert answer == {"UserId": account, "Account": account, "Arn": f"arn:aws:iam::{account}:root"}
    user = as_user(settings, "sts", iam_user(settings, "someone"))
    assert user.get_caller_identity()["Arn"] == f"arn:aws:iam::{account}:user/someone"


def a_web_instance(ec2, built: dict, **launch) -> tuple[str, str]:
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=built["vpc"])["GroupId"]
    image = an_image(ec2)["ImageId"]
    [instance] = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, NetworkInterfaces=[
        {"DeviceIndex": 0, "SubnetId": built["subnet"], "Groups": [group], "AssociatePublicIpAddress": True}],
        **launch)["Instances"]
    return instance["InstanceId"], group


def test_an_instance_launched_with_a_network_interface_shows_its_groups(settings, aws_json):
    ec2 = client(settings, "ec2")
    instance, group = a_web_instance(ec2, network(ec2))
    described = aws_json(settings, "ec2", "describe-instances", "--instance-ids", instance)
    [found] = described["Reservations"][0]["Instances"]
    assert [g["GroupId"] for g in found["SecurityGroups"]] == [group]
    assert found["SecurityGroups"][0]["GroupName"] == "web"
    assert [g["GroupId"] for g in found["NetworkInterfaces"][0]["Groups"]] == [group]


def a_target_group(settings, vpc: str) -> str:
    elbv2 = client(settings, "elbv2")
    return elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc,
                                     TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]


def test_only_instances_of_the_target_groups_vpc_can_be_registered(settings, aws):
    ec2, elbv2 = client(settings, "ec2"), client(settings, "elbv2")
    built = network(ec2)
    instance, _ = a_web_instance(ec2, built)
    group = a_target_group(settings, built["vpc"])
    done = aws(settings, "elbv2", "register-targets", "--target-group-arn", group, "--targets", "Id=None")
    assert done.returncode != 0 and "(InvalidTarget)" in done.stderr
    elsewhere = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    other = elbv2.create_target_group(Name="other", Protocol="HTTP", Port=80, VpcId=elsewhere)["TargetGroups"][0]
    assert error_code(lambda: elbv2.register_targets(
        TargetGroupArn=other["TargetGroupArn"], Targets=[{"Id": instance}])) == "InvalidTarget"
    assert elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"] == []
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": instance}])
    health = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert [h["Target"]["Id"] for h in health] == [instance]


def test_an_inactive_access_key_is_refused_as_aws_refuses_it(settings):
    iam = client(settings, "iam")
    key = iam_user(settings, "paused", "ec2:Describe*", "s3:ListAllMyBuckets", "dynamodb:ListTables")
    assert as_user(settings, "sts", key).get_caller_identity()["Arn"].endswith(":user/paused")
    iam.update_access_key(UserName="paused", AccessKeyId=key[0], Status="Inactive")
    assert error_code(as_user(settings, "sts", key).get_caller_identity) == "InvalidClientTokenId"
    assert error_code(as_user(settings, "iam", key).list_users) == "InvalidClientTokenId"
    assert error_code(as_user(settings, "ec2", key).describe_vpcs) == "AuthFailure"
    assert error_code(as_user(settings, "s3", key).list_buckets) == "InvalidAccessKeyId"
    assert error_code(as_user(settings, "dynamodb", key).list_tables) == "UnrecognizedClientException"
    iam.update_access_key(UserName="paused", AccessKeyId=key[0], Status="Active")
    assert as_user(settings, "ec2", key).describe_vpcs()["Vpcs"]


def with_origin(api, origin: str = "https://app.example"):
    """A client whose requests carry an Origin header, as a browser's would."""
    api.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.__setitem__("Origin", origin))
    return api


def test_answers_carry_cors_headers_only_where_a_bucket_says(settings):
    ec2, s3 = with_origin(client(settings, "ec2")), with_origin(client(settings, "s3"))
    for answer in (ec2.describe_vpcs(), s3.list_buckets()):  # moto's server: Access-Control-Allow-Origin: *
        assert not [h for h in answer["ResponseMetadata"]["HTTPHeaders"] if h.startswith("access-control-")]
    bucket = f"cors-{settings.sandbox_account}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"]}]})
    preflight = urllib.request.Request(f"{control.endpoint(settings)}/{bucket}/photo.png", method="OPTIONS", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
    with urllib.request.urlopen(preflight, timeout=10) as answer:
        assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert answer.headers["Access-Control-Allow-Methods"] == "GET"
    preflight.headers["Origin"] = "https://other.example"  # urllib keeps header names capitalised
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(preflight, timeout=10)
    assert refused.value.code == 403 and not refused.value.headers["Access-Control-Allow-Origin"]
