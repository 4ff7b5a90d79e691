"""The sandbox's load balancers: an ALB answers at its DNS name through the edge, forwards round robin to
healthy targets, and its targets' health comes from real HTTP checks with AWS's states and reasons.

Everything goes over HTTP: curl and urllib to the DNS name, boto3 to the sandbox's API. One account
holds lab 2's network and instance (read only by the tests); each test makes its own load balancer
and target group in it, and an instance of its own where it changes one.
"""

from __future__ import annotations

import http.client
import subprocess

import pytest

from bootcamp import userdata
from bootcamp.sandbox import control
from conftest import LabDriver, empty_account
from test_dataplane import curl, until
from test_lab2 import ami, web_instance

CHECKS = {"HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2,
          "UnhealthyThresholdCount": 2}


@pytest.fixture(scope="module")
def lab(sandbox, worker_prefix):
    """Lab 2 solved, once for the module, in an account of its own: the network and an app's instance."""
    settings = sandbox.but(sandbox_account=f"{worker_prefix}9{abs(hash(__name__)) % 10**7:07d}", owner="tester")
    driver = LabDriver("2", settings)
    driver.run("start")
    driver.run("solve")
    yield driver
    empty_account(settings)


class Alb:
    """One load balancer with a listener on 80 to one target group, made by a test in the lab's network."""

    def __init__(self, lab, name: str, scheme: str = "internet-facing", path: str = "/health", targets=None,
                 delay: int = 300):
        self.lab, self.elb, ec2 = lab, lab.client("elbv2"), lab.client("ec2")
        instance = web_instance(lab)
        self.vpc = instance["VpcId"]
        subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[
            {"Name": "vpc-id", "Values": [self.vpc]}])["Subnets"]]
        self.sg = ec2.create_security_group(GroupName=f"{name}-sg", Description="HTTP in", VpcId=self.vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=self.sg, IpProtocol="tcp", FromPort=80, ToPort=80,
                                             CidrIp="0.0.0.0/0")
        self.tg = self.elb.create_target_group(Name=f"{name}-tg", Protocol="HTTP", Port=80, VpcId=self.vpc,
                                               HealthCheckPath=path, **CHECKS)["TargetGroups"][0]["TargetGroupArn"]
        self.elb.modify_target_group_attributes(TargetGroupArn=self.tg, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}])
        made = self.elb.create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=[self.sg], Scheme=scheme,
                                             Type="application")["LoadBalancers"][0]
        self.arn, self.dns = made["LoadBalancerArn"], made["DNSName"]
        self.elb.create_listener(LoadBalancerArn=self.arn, Protocol="HTTP", Port=80,
                                 DefaultActions=[{"Type": "forward", "TargetGroupArn": self.tg}])
        self.targets = targets if targets is not None else [instance["InstanceId"]]
        if self.targets:
            self.elb.register_targets(TargetGroupArn=self.tg, Targets=[{"Id": i} for i in self.targets])

    @property
    def url(self) -> str:
        return f"http://{self.dns}:{self.lab.settings.sandbox_port}"

    def health(self) -> dict[str, dict]:
        found = self.elb.describe_target_health(TargetGroupArn=self.tg)["TargetHealthDescriptions"]
        return {t["Target"]["Id"]: t["TargetHealth"] for t in found}

    def until(self, state: str, target: str | None = None) -> dict:
        target = target or self.targets[0]
        return until(lambda: (self.health().get(target, {}).get("State") == state) and self.health()[target],
                     f"{target} is {state} in {self.tg.rsplit('/', 2)[1]}: {self.health()}")


def get(url: str, path: str = "/api/settings") -> tuple[int, dict, bytes]:
    """(status, headers, body) of one GET through the edge (urllib's *.localhost goes to 127.0.0.1 here)."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    try:
        connection.request("GET", path, headers={"Host": f"{host}:{port}"})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def launch(lab, groups: list[str]) -> str:
    """Another instance of the app, in the lab's other subnet, with these security groups."""
    ec2, first = lab.client("ec2"), web_instance(lab)
    subnet = next(s for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [first["VpcId"]]}])["Subnets"]
                  if s["SubnetId"] != first["SubnetId"])
    return ec2.run_instances(ImageId=ami(lab), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             UserData=userdata.render(lab.target.region), NetworkInterfaces=[{
                                 "DeviceIndex": 0, "SubnetId": subnet["SubnetId"], "Groups": groups,
                                 "AssociatePublicIpAddress": True}])["Instances"][0]["InstanceId"]


def test_an_internet_facing_alb_answers_at_its_dns_name_from_its_healthy_targets(lab):
    alb = Alb(lab, "answers")
    assert alb.dns.startswith("answers-") and alb.dns.endswith(f".{lab.target.region}.elb.localhost")
    first = alb.until("healthy")
    assert first == {"State": "healthy"}
    page = curl(alb.url + "/health")
    assert page.returncode == 0 and page.stdout == "ok", page.stderr
    status, headers, body = get(alb.url)  # the app's settings: the instance that answered names itself
    assert status == 200 and web_instance(lab)["InstanceId"].encode() in body
    # No listener on 8080 (`8080--NAME` is the name's port 8080): refused at once, as an ALB resets it.
    refused = curl(f"http://8080--{alb.dns}:{lab.settings.sandbox_port}/", seconds=5)
    assert refused.returncode != 0 and refused.stdout == ""


def test_an_internal_alb_never_answers_from_this_machine(lab):
    alb = Alb(lab, "inside", scheme="internal")
    assert alb.dns.startswith("internal-inside-")
    alb.until("healthy")  # its targets are checked and healthy: only the internet cannot reach it
    answer = curl(alb.url + "/", seconds=5)
    assert answer.returncode != 0 and answer.stdout == ""


def test_a_failing_health_check_path_makes_the_target_unhealthy_with_the_reason(lab):
    alb = Alb(lab, "badpath", path="/no-such-page")
    initial = alb.health()[alb.targets[0]]
    assert initial["State"] == "initial" and initial["Reason"] in ("Elb.RegistrationInProgress",
                                                                   "Elb.InitialHealthChecking")
    found = alb.until("unhealthy")
    assert found["Reason"] == "Target.ResponseCodeMismatch"
    assert found["Description"] == "Health checks failed with these codes: [404]"
    alb.elb.modify_target_group(TargetGroupArn=alb.tg, HealthCheckPath="/health")
    alb.until("healthy")


def test_deregistration_drains_the_target_and_then_the_alb_answers_503(lab):
    alb = Alb(lab, "drains", delay=600)
    alb.until("healthy")
    alb.elb.deregister_targets(TargetGroupArn=alb.tg, Targets=[{"Id": alb.targets[0]}])
    assert alb.health()[alb.targets[0]] == {"State": "draining", "Reason": "Target.DeregistrationInProgress",
                                            "Description": "Target deregistration is in progress"}
    status, headers, body = get(alb.url, "/")
    assert status == 503 and headers["Server"] == "awselb/2.0"
    assert b"<title>503 Service Temporarily Unavailable</title>" in body


def test_a_target_group_without_targets_answers_503_and_the_targets_group_must_allow_the_albs(lab):
    alb = Alb(lab, "refs", targets=[])
    assert get(alb.url, "/")[0] == 503
    ec2 = lab.client("ec2")
    only_alb = ec2.create_security_group(GroupName="from-the-alb", Description="HTTP from the ALB",
                                         VpcId=alb.vpc)["GroupId"]
    instance = launch(lab, [only_alb])
    alb.targets = [instance]
    alb.elb.register_targets(TargetGroupArn=alb.tg, Targets=[{"Id": instance}])
    assert alb.until("unhealthy")["Reason"] == "Target.Timeout"  # its group lets nothing in
    ec2.authorize_security_group_ingress(GroupId=only_alb, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": alb.sg}]}])
    alb.until("healthy")
    status, _, body = get(alb.url)
    assert status == 200 and instance.encode() in body
    # The instance itself is not reachable from the internet: its group allows only the ALB's.
    public = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["PublicDnsName"]
    assert curl(f"http://{public}:{lab.settings.sandbox_port}/", seconds=5).returncode != 0


# --- a change reaches the very next request: the edge keeps an account's views only while its state stands ---

def answered(url: str, path: str = "/health") -> tuple[int, bytes] | None:
    """(status, body) of one GET through the edge, or None when the connection ends without an answer."""
    try:
        status, _, body = get(url, path)
        return status, body
    except (OSError, http.client.HTTPException):
        return None


def test_the_next_request_sees_a_security_group_rule_and_the_gateway_go_and_come_back(lab):
    alb, ec2 = Alb(lab, "changes"), lab.client("ec2")
    alb.until("healthy")
    instance = f"http://{web_instance(lab)['PublicDnsName']}:{lab.settings.sandbox_port}"
    http_in = {"GroupId": alb.sg, "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0"}
    assert [answered(alb.url) for _ in range(3)] == [(200, b"ok")] * 3  # the account's views are kept now
    ec2.revoke_security_group_ingress(**http_in)
    assert answered(alb.url) is None  # no group of the load balancer lets HTTP in: dropped
    ec2.authorize_security_group_ingress(**http_in)
    assert answered(alb.url) == (200, b"ok")
    assert answered(instance) == (200, b"ok")
    igw = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [alb.vpc]}])
    igw = igw["InternetGateways"][0]["InternetGatewayId"]
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=alb.vpc)
    try:
        assert answered(alb.url) is None and answered(instance) is None
    finally:
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=alb.vpc)
    assert answered(alb.url) == (200, b"ok") and answered(instance) == (200, b"ok")


def test_the_next_request_sees_a_new_listener_rule_and_a_deregistered_target(lab):
    alb = Alb(lab, "rules", delay=600)
    alb.until("healthy")
    assert answered(alb.url) == (200, b"ok") and answered(alb.url, "/api/settings")[0] == 200
    listener = alb.elb.describe_listeners(LoadBalancerArn=alb.arn)["Listeners"][0]["ListenerArn"]
    alb.elb.create_rule(ListenerArn=listener, Priority=1, Conditions=[{"Field": "path-pattern", "Values": ["/health"]}],
                        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {
                            "StatusCode": "200", "ContentType": "text/plain", "MessageBody": "from the rule"}}])
    assert answered(alb.url) == (200, b"from the rule")
    alb.elb.deregister_targets(TargetGroupArn=alb.tg, Targets=[{"Id": alb.targets[0]}])
    assert answered(alb.url, "/api/settings")[0] == 503


def test_an_account_reset_takes_its_load_balancer_off_the_edge_at_once(settings, target):
    """The store empties an account without an API action: the edge notices moto's objects are new."""
    ec2, elb = target.client("ec2"), target.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{n}.0/24", AvailabilityZone=f"{target.region}{zone}")
               ["Subnet"]["SubnetId"] for n, zone in enumerate("ab")]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    sg = ec2.create_security_group(GroupName="reset-sg", Description="HTTP in", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="0.0.0.0/0")
    made = elb.create_load_balancer(Name="reset", Subnets=subnets, SecurityGroups=[sg])["LoadBalancers"][0]
    elb.create_listener(LoadBalancerArn=made["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[{
        "Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "still here"}}])
    url = f"http://{made['DNSName']}:{settings.sandbox_port}"
    assert [answered(url) for _ in range(2)] == [(200, b"still here")] * 2
    control.reset(settings, settings.sandbox_account)
    assert answered(url) is None  # refused: no load balancer has this DNS name any more
