"""The sandbox's data plane: latency through the edge and the ALB against the app directly, app start,
memory per app, and create-auto-scaling-group to two healthy targets at speeds 1 and 10.

    python bench/dataplane.py [--requests 300] [--apps 4] [--speeds 1,10]

Starts its own sandbox on a free port (its own BOOTCAMP_HOME), solves lab 2 in a fresh account
and, in the same run: GETs /health from the app directly (its loopback port) and through the
edge (the instance's public DNS name on the sandbox's port), alternating, and reports the
medians, the added latency and requests per second of each; times run-instances to the first
answer through the edge; and launches --apps more instances to read each app's memory
(RSS, and PSS: its share of pages it has in common with the other apps).

Then, for each of --speeds, a sandbox of its own at BOOTCAMP_SANDBOX_SPEED=N: lab 4 started, the
course's target group (health checks every 30 s, 2 to be healthy), load balancer, listener and
launch template made, and the time from CreateAutoScalingGroup (2 instances) to two healthy
targets; on the last one, GET /health through the load balancer's DNS name against the app directly.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bootcamp import lifecycle, userdata  # noqa: E402
from bootcamp.labmodel import get_lab  # noqa: E402
from bootcamp.provision import AL2023_PARAMETER  # noqa: E402
from bootcamp.state import lab_files  # noqa: E402
from bootcamp.sandbox import control  # noqa: E402
from bootcamp.settings import Settings  # noqa: E402
from bootcamp.targets import make_target  # noqa: E402

WAIT = 60.0


def get(port: int, host: str, path: str = "/health") -> float:
    """Seconds one GET takes on a new connection (as a browser's first request)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host})
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {host}{path}: HTTP {answer.status}")
    finally:
        conn.close()
    return time.perf_counter() - start


def until_answers(port: int, host: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < WAIT:
        try:
            get(port, host)
            return time.monotonic() - start
        except (OSError, RuntimeError, http.client.HTTPException):
            time.sleep(0.05)
    raise RuntimeError(f"{host} did not answer within {WAIT:g} s")


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in kB."""
    found = {}
    for name in (f"/proc/{pid}/smaps_rollup",):
        for line in Path(name).read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Rss", "Pss"):
                found[key] = int(value.split()[0])
    return found.get("Rss", 0), found.get("Pss", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--apps", type=int, default=4, help="extra instances launched to measure memory per app")
    parser.add_argument("--speeds", default="1,10", help="BOOTCAMP_SANDBOX_SPEED values for the Auto Scaling timing")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    settings = Settings.from_env(env={}, home=home, sandbox_port=control.free_port(), sandbox_account="424242424299")
    control.up(settings)
    try:
        measure(settings, args.requests, args.apps)
    finally:
        control.down(settings)
    speeds = [s for s in args.speeds.split(",") if s.strip()]
    for n, speed in enumerate(speeds):
        home = Path(tempfile.mkdtemp(prefix=f"bench-home-{speed}-"))
        settings = Settings.from_env(env={}, home=home, sandbox_port=control.free_port(),
                                     sandbox_account="424242424298")
        control.up(settings, env={"BOOTCAMP_SANDBOX_SPEED": speed, "BOOTCAMP_SANDBOX_STATE": "off"})
        try:
            balancer = until_two_healthy(settings, speed)
            if n == len(speeds) - 1:
                through_the_balancer(settings, balancer, args.requests)
        finally:
            control.down(settings)


def until_two_healthy(settings: Settings, speed: str) -> str:
    """Lab 4's load balancer and launch template, then CreateAutoScalingGroup to two healthy targets: its DNS name."""
    from labs.lab4 import provision as lab4

    lab, target = get_lab("4"), make_target(settings)
    lifecycle.provision("start", lab, target, settings, log=lambda _: None)
    ec2, elb, scaling = target.client("ec2"), target.client("elbv2"), target.client("autoscaling")
    vpc = next(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault"))
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    groups = {g["GroupName"]: g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]}
    tg = elb.create_target_group(Name="bench-tg", Protocol="HTTP", Port=80, VpcId=vpc, HealthCheckPath="/",
                                 HealthCheckIntervalSeconds=30, HealthCheckTimeoutSeconds=20, HealthyThresholdCount=2,
                                 UnhealthyThresholdCount=5)["TargetGroups"][0]["TargetGroupArn"]
    made = elb.create_load_balancer(Name="bench-alb", Subnets=subnets, SecurityGroups=[groups[lab4.LB_SG]],
                                    Scheme="internet-facing")["LoadBalancers"][0]
    elb.create_listener(LoadBalancerArn=made["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    script = (lab_files(settings.home, "4", target.name, target.account_id) / "user-data.sh").read_text()
    image = target.client("ssm").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
    ec2.create_launch_template(LaunchTemplateName="bench-lt", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro", "IamInstanceProfile": {"Name": "EmployeeDirectoryAppRole"},
        "SecurityGroupIds": [groups["Web Security Group"]], "UserData": base64.b64encode(script.encode()).decode()})
    started = time.monotonic()
    scaling.create_auto_scaling_group(AutoScalingGroupName="bench-asg", LaunchTemplate={"LaunchTemplateName": "bench-lt"},
                                      MinSize=2, MaxSize=2, DesiredCapacity=2, VPCZoneIdentifier=",".join(subnets),
                                      TargetGroupARNs=[tg], HealthCheckType="ELB", HealthCheckGracePeriod=300)
    deadline = started + 600
    while time.monotonic() < deadline:
        health = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        if len([t for t in health if t["TargetHealth"]["State"] == "healthy"]) >= 2:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"speed {speed}: no two healthy targets within 600 s")
    print(f"speed {speed}: create-auto-scaling-group to two healthy targets: {time.monotonic() - started:.1f} s "
          "(health checks every 30 s, 2 to be healthy)")
    return made["DNSName"]


def through_the_balancer(settings: Settings, dns: str, requests: int) -> None:
    apps = control.running_apps(settings, settings.sandbox_account)
    app = apps[0]
    direct_host, host = f"127.0.0.1:{app['port']}", f"{dns}:{settings.sandbox_port}"
    for _ in range(20):
        get(app["port"], direct_host), get(settings.sandbox_port, host)
    direct, alb = [], []
    for _ in range(requests):
        direct.append(get(app["port"], direct_host))
        alb.append(get(settings.sandbox_port, host))
    d, a = statistics.median(direct), statistics.median(alb)
    print(f"GET /health through the load balancer, {requests} each, alternating, a new connection each:")
    print(f"  app directly:      median {d * 1000:.2f} ms, {1 / statistics.mean(direct):.0f} requests/s")
    print(f"  through the ALB:   median {a * 1000:.2f} ms, {1 / statistics.mean(alb):.0f} requests/s")
    print(f"  added by the ALB:  {(a - d) * 1000:.2f} ms at the median ({a / d:.2f}x)")


def measure(settings: Settings, requests: int, apps: int) -> None:
    lab, target = get_lab("2"), make_target(settings)
    for action in ("start", "solve"):
        lifecycle.provision(action, lab, target, settings, log=lambda _: None)
    ec2 = target.client("ec2")
    instance = ec2.describe_instances()["Reservations"][0]["Instances"][0]
    host = f"{instance['PublicDnsName']}:{settings.sandbox_port}"
    until_answers(settings.sandbox_port, host)
    [app] = control.running_apps(settings, settings.sandbox_account)
    direct_host = f"127.0.0.1:{app['port']}"
    for _ in range(20):  # warm both paths
        get(app["port"], direct_host), get(settings.sandbox_port, host)
    direct, edge, front = [], [], []
    sandbox_host = f"127.0.0.1:{settings.sandbox_port}"
    for _ in range(requests):
        direct.append(get(app["port"], direct_host))
        edge.append(get(settings.sandbox_port, host))
        front.append(get(settings.sandbox_port, sandbox_host, "/_bootcamp/health"))
    d, e, f = statistics.median(direct), statistics.median(edge), statistics.median(front)
    print(f"GET /health, {requests} each, alternating, a new connection each:")
    print(f"  app directly:      median {d * 1000:.2f} ms, {1 / statistics.mean(direct):.0f} requests/s")
    print(f"  through the edge:  median {e * 1000:.2f} ms, {1 / statistics.mean(edge):.0f} requests/s")
    print(f"  added by the edge: {(e - d) * 1000:.2f} ms at the median ({e / d:.2f}x)")
    print(f"  (the sandbox's own /_bootcamp/health, its HTTP front alone: median {f * 1000:.2f} ms)")

    subnet = instance["SubnetId"]
    groups = sorted({g["GroupId"] for eni in instance["NetworkInterfaces"] for g in eni["Groups"]})
    starts = []
    for _ in range(apps):
        started = time.monotonic()
        made = ec2.run_instances(ImageId=instance["ImageId"], InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 UserData=userdata.render(target.region), NetworkInterfaces=[{
                                     "DeviceIndex": 0, "SubnetId": subnet, "Groups": groups,
                                     "AssociatePublicIpAddress": True}])["Instances"][0]
        until_answers(settings.sandbox_port, f"{made['PublicDnsName']}:{settings.sandbox_port}")
        starts.append(time.monotonic() - started)
    print(f"run-instances to the first answer through the edge: median {statistics.median(starts):.2f} s "
          f"(min {min(starts):.2f}, max {max(starts):.2f}, {apps} instances)")
    sizes = [memory(a["pid"]) for a in control.running_apps(settings, settings.sandbox_account) if a["pid"]]
    print(f"memory per app ({len(sizes)} apps): RSS median {statistics.median(s[0] for s in sizes) / 1024:.1f} MB, "
          f"PSS median {statistics.median(s[1] for s in sizes) / 1024:.1f} MB")


if __name__ == "__main__":
    main()
