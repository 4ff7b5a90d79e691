"""Class grading of many sandbox learners against a plain script that only issues the reads.

    python bench/class_grade.py [--learners 100] [--lab 2] [--workers 1 4] [--runs 3]

For lab 3 every learner's app runs on the learner's instance in the sandbox's data plane (the cap on
running apps is raised to the class), and both the plain script and the grade ask it through the
edge; its own calls count as the learner's.

Starts its own sandbox, builds the lab's solved state in N learner accounts, then in one run:
- the plain script: one shared client per service, credentials switched per learner, only
  the minimal read calls a grade of that lab needs, nothing judged or written;
- `class.grade` through the library (collect every learner, judge all in one graders' run,
  write every output file), for each worker count.
API calls per learner come from the sandbox's own counters.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from botocore.credentials import ReadOnlyCredentials  # noqa: E402

from bootcamp import lifecycle, webapp  # noqa: E402
from bootcamp.classroom import access, merge, roster, run  # noqa: E402
from bootcamp.labmodel import get_lab  # noqa: E402
from bootcamp.sandbox import control  # noqa: E402
from bootcamp.settings import Settings  # noqa: E402
from bootcamp.targets import make_target  # noqa: E402


def minimal_reads(lab_id: str, client, public_url=None) -> None:
    """The reads a grade of the lab needs and nothing else."""
    if lab_id == "1":
        client("iam").get_account_authorization_details(Filter=["User", "Group"])
        client("ec2").describe_instances(Filters=[{"Name": "tag:bootcamp:lab", "Values": ["1"]}])
        return
    if lab_id == "3":
        for url in instance_apps(client("ec2"), public_url):
            webapp.ask(url)
        s3, ddb = client("s3"), client("dynamodb")
        for bucket in s3.list_buckets()["Buckets"]:
            name = bucket["Name"]
            s3.get_bucket_location(Bucket=name)
            s3.get_public_access_block(Bucket=name)
            s3.get_bucket_policy(Bucket=name)
            s3.get_bucket_tagging(Bucket=name)
            s3.list_objects_v2(Bucket=name)
        for table in ddb.list_tables()["TableNames"]:
            arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
            ddb.list_tags_of_resource(ResourceArn=arn)
            ddb.scan(TableName=table)
        return
    if lab_id == "4":
        ec2, elb, scaling = client("ec2"), client("elbv2"), client("autoscaling")
        for read in (ec2.describe_vpcs, ec2.describe_subnets, ec2.describe_security_groups, ec2.describe_instances,
                     scaling.describe_auto_scaling_groups, scaling.describe_policies,
                     scaling.describe_notification_configurations, client("sns").list_topics,
                     client("s3").list_buckets):
            read()
        for group in elb.describe_target_groups()["TargetGroups"]:
            elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        for balancer in elb.describe_load_balancers()["LoadBalancers"]:
            elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])
        images = set()
        for template in ec2.describe_launch_templates()["LaunchTemplates"]:
            versions = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
            images |= {v["LaunchTemplateData"].get("ImageId") for v in versions["LaunchTemplateVersions"]} - {None}
        if images:
            ec2.describe_images(ImageIds=sorted(images))
        return
    ec2 = client("ec2")
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        if not vpc.get("IsDefault"):
            ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")
            ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsSupport")
    ec2.describe_subnets()
    ec2.describe_internet_gateways()
    ec2.describe_route_tables()
    ec2.describe_security_groups()
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    ec2.describe_images(ImageIds=sorted({i["ImageId"] for i in instances}))
    for i in instances:
        ec2.describe_instance_attribute(InstanceId=i["InstanceId"], Attribute="userData")


def instance_apps(ec2, public_url) -> list[str]:
    """The URLs of the running instances named Web Application (lab 3's app)."""
    found = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["Web Application"]},
                                            {"Name": "instance-state-name", "Values": ["running"]}])
    return [public_url(i["PublicIpAddress"]) for r in found["Reservations"] for i in r["Instances"]
            if i.get("PublicIpAddress")]


def calls(settings: Settings, accounts: set[str]) -> int:
    rows = control.stats(settings)["by_account_service"]
    return sum(r["requests"] for r in rows if r["account"] in accounts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100)
    parser.add_argument("--lab", default="2")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-class-"))
    base = Settings.from_env(env={}, home=home, sandbox_port=control.free_port())
    control.up(base, env={"BOOTCAMP_SANDBOX_MAX_APPS": str(args.learners + 1)})  # lab 3: every learner's app
    try:
        lab = get_lab(args.lab)
        accounts = [f"31{n:010d}" for n in range(args.learners)]
        t = time.perf_counter()
        for account in accounts:
            learner = base.but(sandbox_account=account, owner="bench")
            for action in ("start", "solve"):
                lifecycle.provision(action, lab, make_target(learner), learner, log=lambda _: None)
        print(f"built lab {lab.id} solved in {len(accounts)} accounts in {time.perf_counter() - t:.1f} s")
        for account in accounts:  # lab 3: an app makes its clients on its first request: not what is measured
            learner = make_target(base.but(sandbox_account=account))
            for url in instance_apps(learner.client("ec2"), learner.public_url) if lab.id == "3" else ():
                webapp.ask(url)
        text = "learner_id,sandbox_account\n" + "".join(f"l{n:03d},{a}\n" for n, a in enumerate(accounts))
        class_roster = roster.parse(text)
        target = make_target(base)

        pool = access.ClientPool(target.endpoint("ec2"))
        plain = []
        for _ in range(args.runs):
            before = calls(base, set(accounts))
            t = time.perf_counter()
            for account in accounts:
                token = access._current.set(ReadOnlyCredentials(account, control.SECRET, None))
                try:
                    minimal_reads(lab.id, lambda service: pool.client(service, target.region), target.public_url)
                finally:
                    access._current.reset(token)
            plain.append(time.perf_counter() - t)
            plain_calls = (calls(base, set(accounts)) - before) / len(accounts)
        print(f"plain script: median {statistics.median(plain):.2f} s (min {min(plain):.2f}), "
              f"{plain_calls:.1f} API calls per learner")

        for workers in args.workers:
            timings, phases = [], []
            for n in range(args.runs):
                before = calls(base, set(accounts))
                t = time.perf_counter()
                graded = run.grade_class(lab, class_roster, target, workers=workers)
                written = time.perf_counter()
                merge.write(graded, home / f"out-{workers}-{n}")
                timings.append(time.perf_counter() - t)
                phases.append({**graded.seconds, "write": time.perf_counter() - written})
                per_learner = (calls(base, set(accounts)) - before) / len(accounts)
                assert all(g.status == "PASS" for g in graded.grades), "a solved learner did not pass"
            ratio = statistics.median(timings) / statistics.median(plain)
            print(f"class.grade, {workers} worker(s): median {statistics.median(timings):.2f} s "
                  f"(min {min(timings):.2f}), {per_learner:.1f} API calls per learner, "
                  f"{ratio:.2f}x the plain script; median phases: "
                  + ", ".join(f"{k} {statistics.median(p[k] for p in phases):.2f} s" for k in phases[0]))
    finally:
        control.down(base)


if __name__ == "__main__":
    main()
