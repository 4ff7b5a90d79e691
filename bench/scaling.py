"""Auto Scaling in the sandbox: how long a group takes to serve, and to replace a lost instance.

    python bench/scaling.py [--speeds 1,10] [--rounds 2]

For each speed (BOOTCAMP_SANDBOX_SPEED) it starts a sandbox of its own (own BOOTCAMP_HOME, free
port, state in memory) and, in one fresh account, times in the same run:
- baseline: run-instances of two instances with the project's user data, to both apps answering;
- create-auto-scaling-group (two subnets in two AZs, desired 2, the same user data in its launch
  template) to both instances InService and to both apps answering;
- terminate-instances of one group instance to its replacement's app answering.
It prints medians over --rounds and each group figure as a ratio of the baseline.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bootcamp import userdata  # noqa: E402
from bootcamp.provision import AL2023_PARAMETER  # noqa: E402
from bootcamp.sandbox import control  # noqa: E402
from bootcamp.settings import Settings  # noqa: E402
from bootcamp.targets import make_target  # noqa: E402

WAIT = 120.0


def answering(settings: Settings, ids: set[str]) -> bool:
    apps = {a["instance"]: a for a in control.running_apps(settings, settings.sandbox_account) if a["instance"] in ids}
    if len(apps) < len(ids):
        return False
    for app in apps.values():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{app['port']}/health", timeout=2) as answer:
                if answer.status != 200:
                    return False
        except OSError:
            return False
    return True


def until(check) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > WAIT:
            raise RuntimeError(f"not within {WAIT:g} s")
        time.sleep(0.02)
    return time.monotonic() - start


def in_service(client, name: str) -> set[str]:
    group = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"}


def one_round(settings: Settings, n: int) -> dict[str, float]:
    target = make_target(settings)
    ec2, client = target.client("ec2"), target.client
    script = userdata.render(target.region)
    image = target.client("ssm").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
    vpc = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{n}.{k}.0/24", AvailabilityZone=f"{target.region}{z}")
               ["Subnet"]["SubnetId"] for k, z in ((1, "a"), (2, "b"))]
    figures = {}

    start = time.monotonic()
    made = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=2, MaxCount=2, UserData=script,
                             SubnetId=subnets[0])["Instances"]
    plain = {i["InstanceId"] for i in made}
    until(lambda: answering(settings, plain))
    figures["baseline: run-instances to 2 apps answering"] = time.monotonic() - start
    ec2.terminate_instances(InstanceIds=list(plain))

    ec2.create_launch_template(LaunchTemplateName=f"bench-{n}", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro", "UserData": base64.b64encode(script.encode()).decode()})
    name = f"bench-{n}"
    start = time.monotonic()
    client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": name}, MinSize=2, MaxSize=4,
        DesiredCapacity=2, VPCZoneIdentifier=",".join(subnets))
    until(lambda: len(in_service(client, name)) == 2)
    figures["create-auto-scaling-group to 2 InService"] = time.monotonic() - start
    members = in_service(client, name)
    until(lambda: answering(settings, members))
    figures["create-auto-scaling-group to 2 apps answering"] = time.monotonic() - start

    lost = sorted(members)[0]
    start = time.monotonic()
    ec2.terminate_instances(InstanceIds=[lost])
    until(lambda: len(in_service(client, name) - {lost}) == 2)
    now = in_service(client, name)
    until(lambda: answering(settings, now))
    figures["terminate-instances to the replacement's app answering"] = time.monotonic() - start
    client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    return figures


def run(speed: str, rounds: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    settings = Settings.from_env(env={}, home=home, sandbox_port=control.free_port(), sandbox_account="551100220033")
    control.up(settings, env={"BOOTCAMP_SANDBOX_SPEED": speed, "BOOTCAMP_SANDBOX_STATE": "off"})
    try:
        results: dict[str, list[float]] = {}
        for n in range(rounds):
            for what, seconds in one_round(settings, 20 + n).items():
                results.setdefault(what, []).append(seconds)
    finally:
        control.down(settings)
    base = statistics.median(next(iter(results.values())))
    print(f"BOOTCAMP_SANDBOX_SPEED={speed} (median of {rounds}):")
    for what, values in results.items():
        median = statistics.median(values)
        print(f"  {what:58s} {median:6.2f} s  ({median / base:4.2f}x the baseline)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speeds", default="1,10", help="comma-separated BOOTCAMP_SANDBOX_SPEED values")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per speed (medians are reported)")
    args = parser.parse_args()
    for speed in args.speeds.split(","):
        run(speed.strip(), args.rounds)


if __name__ == "__main__":
    main()
