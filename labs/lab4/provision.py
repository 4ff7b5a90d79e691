"""Lab 4 provisioning: lab 3's end state plus the load balancer's security group; the learner's
steps done right (target group, load balancer, launch template, Auto Scaling group, scaling
policy, notifications, the original instance replaced); cleanup by tag."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import botocore.exceptions as bx

from bootcamp import approle, network, userdata
from bootcamp.errors import BootcampError
from bootcamp.provision import Context, error_code, name_of, tolerate
from bootcamp.state import lab_files
from labs.lab3 import provision as lab3

LAYOUT = lab3.LAYOUT
LB_SG = "LoadBalancerSG"
TARGET_GROUP = "lab-app-target-group"
LOAD_BALANCER = "Web-Application-ALB"
TEMPLATE = "lab-app-launch-template"
GROUP = "app-asg"
POLICY = "cpu-at-30-percent"
TOPIC = "lab-app-sns-topic"
NOTIFICATIONS = ["autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
                 "autoscaling:EC2_INSTANCE_TERMINATE", "autoscaling:EC2_INSTANCE_TERMINATE_ERROR"]
# In the table from the start, so the app behind the load balancer has a directory to show.
EMPLOYEES = [{"id": {"S": f"emp-{n:03d}"}, "name": {"S": name}, "email": {"S": email},
              "location": {"S": location}, "photo": {"S": photo}}
             for n, (name, email, location, photo) in enumerate(lab3.EMPLOYEES, start=101)]
WAIT_SECONDS = 900  # what AWS may take to launch, check and drain instances and load balancers


def user_data_path(ctx: Context) -> Path:
    return lab_files(ctx.home, ctx.lab.id, ctx.target.name, ctx.account) / "user-data.sh"


def start(ctx: Context) -> None:
    """What the course prepares: lab 3's end state, and a security group for the load balancer."""
    _prepare(ctx)
    ctx.log(f"  the launch template's user data (step 4.3) is in {user_data_path(ctx)}")


def _prepare(ctx: Context) -> tuple[network.Network, str, str]:
    lab3.refuse_foreign_table(ctx)  # first: what the lab would not make its own is refused before anything is made
    profile = approle.ensure(ctx)
    net = network.build(ctx, LAYOUT)
    bucket = lab3.photo_bucket(ctx)
    lab3.bucket_with_photos(ctx, bucket, keep_policy=True)
    lab3.employees_table(ctx)
    _employees(ctx)
    script = userdata.render(ctx.region, bucket)
    if not _original_made(ctx, net.vpc):  # once made, never again: terminating it is the learner's last step
        original = network.web_instance(ctx, LAYOUT, net, script, instance_profile=profile)
        ctx.state.update(original=original, original_vpc=net.vpc)
    lb_sg = _load_balancer_group(ctx, net.vpc)
    path = user_data_path(ctx)
    if not path.exists() or path.read_text() != script:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script)
        ctx.did(f"user data with bucket {bucket} and region {ctx.region} written to {path}")
    ctx.state.update(bucket=bucket, user_data=str(path))
    return net, bucket, lb_sg


def _original_made(ctx: Context, vpc: str) -> bool:
    """Whether start made the original instance in this network (the state may outlive the account's
    resources: after `sandbox.reset`, or when the network was deleted, it names what is gone)."""
    saved = ctx.state.load()
    if not saved.get("original"):
        return False
    if saved.get("original_vpc"):
        return saved["original_vpc"] == vpc
    found = tolerate(lambda: ctx.client("ec2").describe_instances(InstanceIds=[saved["original"]]),
                     "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")
    return bool(found and found["Reservations"])


def _employees(ctx: Context) -> None:
    """The three employees, each only when its id is missing: a learner's edit to one stays."""
    ddb, added = ctx.client("dynamodb"), 0
    for item in EMPLOYEES:
        try:
            ddb.put_item(TableName=lab3.TABLE, Item=item, ConditionExpression="attribute_not_exists(id)")
            added += 1
        except bx.ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
    if added:
        ctx.did(f"{added} employees in table {lab3.TABLE}")


def _load_balancer_group(ctx: Context, vpc: str) -> str:
    ec2 = ctx.client("ec2")
    found = ec2.describe_security_groups(Filters=ctx.tag_filters() + [
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": [LB_SG]}])["SecurityGroups"]
    if found:
        return found[0]["GroupId"]
    sg = ec2.create_security_group(
        GroupName=LB_SG, Description="HTTP from anywhere to the load balancer", VpcId=vpc,
        TagSpecifications=ctx.tag_specs("security-group", Name=LB_SG))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
        "IpRanges": [{"CidrIp": network.WORLD, "Description": "HTTP from anywhere"}]}])
    ctx.did(f"security group {LB_SG} {sg} (TCP 80 from {network.WORLD})")
    return sg


def solve(ctx: Context) -> None:
    _refuse_the_learners_names(ctx)
    net, bucket, lb_sg = _prepare(ctx)
    elb, ec2 = ctx.client("elbv2"), ctx.client("ec2")
    group_arn = _target_group(ctx, net.vpc)
    original = _original(ctx)
    if original:
        elb.register_targets(TargetGroupArn=group_arn, Targets=[{"Id": original}])
        ctx.did(f"instance {LAYOUT.instance} {original} registered in {TARGET_GROUP}")
    balancer = _load_balancer(ctx, net, lb_sg)
    _listener(ctx, balancer, group_arn)
    _launch_template(ctx, net.web_sg, bucket)
    _auto_scaling_group(ctx, net, group_arn)
    _scaling_policy(ctx)
    topic = ctx.client("sns").create_topic(Name=TOPIC, Tags=ctx.tag_list())["TopicArn"]
    ctx.client("autoscaling").put_notification_configuration(
        AutoScalingGroupName=GROUP, TopicARN=topic, NotificationTypes=NOTIFICATIONS)
    ctx.did(f"notifications of {GROUP} to SNS topic {TOPIC}")
    _until_healthy(ctx, group_arn, exclude=original)
    if original:
        ec2.terminate_instances(InstanceIds=[original])
        ctx.did(f"terminated the original instance {LAYOUT.instance} {original}")


def _refuse_the_learners_names(ctx: Context) -> None:
    """Solve makes the learner's steps under the course's names: one the learner made by such a name
    is refused before anything changes, never used or taken over."""
    theirs = [("target group", TARGET_GROUP, not _ours_in(ctx, g, "TargetGroupArn")) for g in
              [[g for g in _target_groups(ctx) if g["TargetGroupName"] == TARGET_GROUP]] if g]
    theirs += [("load balancer", LOAD_BALANCER, not _ours_in(ctx, b, "LoadBalancerArn")) for b in
               [[b for b in _balancers(ctx) if b["LoadBalancerName"] == LOAD_BALANCER]] if b]
    theirs += [("launch template", TEMPLATE, not ctx.is_ours(t.get("Tags"))) for t in _templates(ctx)
               if t["LaunchTemplateName"] == TEMPLATE]
    theirs += [("Auto Scaling group", GROUP, not ctx.is_ours(g.get("Tags"))) for g in _groups(ctx)
               if g["AutoScalingGroupName"] == GROUP]
    theirs += [("SNS topic", TOPIC, not ours) for arn, ours in _topics(ctx).items() if arn.endswith(f":{TOPIC}")]
    for kind, name, foreign in theirs:
        if foreign:
            ctx.refuse_foreign(kind, name)


def _original(ctx: Context) -> str | None:
    """The instance start made (its Name is the course's; Auto Scaling's instances have none)."""
    return next((i["InstanceId"] for i in ctx.lab_instances() if name_of(i) == LAYOUT.instance), None)


def _target_group(ctx: Context, vpc: str) -> str:
    elb = ctx.client("elbv2")
    found = tolerate(lambda: elb.describe_target_groups(Names=[TARGET_GROUP])["TargetGroups"], "TargetGroupNotFound")
    if found:
        return found[0]["TargetGroupArn"]
    made = elb.create_target_group(
        Name=TARGET_GROUP, TargetType="instance", Protocol="HTTP", Port=80, VpcId=vpc,
        HealthCheckProtocol="HTTP", HealthCheckPath="/", HealthyThresholdCount=2, UnhealthyThresholdCount=5,
        HealthCheckTimeoutSeconds=20, HealthCheckIntervalSeconds=30, Tags=ctx.tag_list())["TargetGroups"][0]
    ctx.did(f"target group {TARGET_GROUP} (HTTP 80, health check / every 30 s)")
    return made["TargetGroupArn"]


def _load_balancer(ctx: Context, net: network.Network, lb_sg: str) -> str:
    elb = ctx.client("elbv2")
    found = tolerate(lambda: elb.describe_load_balancers(Names=[LOAD_BALANCER])["LoadBalancers"],
                     "LoadBalancerNotFound")
    if found:
        return found[0]["LoadBalancerArn"]
    made = elb.create_load_balancer(Name=LOAD_BALANCER, Type="application", Scheme="internet-facing",
                                    Subnets=net.subnets, SecurityGroups=[lb_sg], Tags=ctx.tag_list())
    balancer = made["LoadBalancers"][0]
    ctx.did(f"load balancer {LOAD_BALANCER} ({balancer['DNSName']}) in both public subnets")
    return balancer["LoadBalancerArn"]


def _listener(ctx: Context, balancer: str, group_arn: str) -> None:
    elb = ctx.client("elbv2")
    if any(listener["Port"] == 80 for listener in elb.describe_listeners(LoadBalancerArn=balancer)["Listeners"]):
        return
    elb.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=80, Tags=ctx.tag_list(),
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}])
    ctx.did(f"listener HTTP 80 -> {TARGET_GROUP}")


def _launch_template(ctx: Context, web_sg: str, bucket: str) -> None:
    ec2 = ctx.client("ec2")
    if tolerate(lambda: ec2.describe_launch_templates(LaunchTemplateNames=[TEMPLATE]),
                "InvalidLaunchTemplateName.NotFoundException"):
        return
    script = userdata.render(ctx.region, bucket)
    ec2.create_launch_template(LaunchTemplateName=TEMPLATE, VersionDescription="the Employee Directory app",
                               TagSpecifications=ctx.tag_specs("launch-template"), LaunchTemplateData={
        "ImageId": ctx.al2023_ami(), "InstanceType": network.INSTANCE_TYPE,
        "IamInstanceProfile": {"Name": approle.ROLE}, "SecurityGroupIds": [web_sg],
        "MetadataOptions": {"HttpTokens": "optional", "HttpEndpoint": "enabled"},
        "UserData": base64.b64encode(script.encode()).decode()})
    ctx.did(f"launch template {TEMPLATE} ({network.INSTANCE_TYPE}, Amazon Linux 2023, {approle.ROLE})")


def _auto_scaling_group(ctx: Context, net: network.Network, group_arn: str) -> None:
    scaling = ctx.client("autoscaling")
    if scaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]:
        return
    tags = [{"Key": t["Key"], "Value": t["Value"], "PropagateAtLaunch": True} for t in ctx.tag_list()]
    scaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP, LaunchTemplate={"LaunchTemplateName": TEMPLATE, "Version": "$Default"},
        MinSize=2, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=",".join(net.subnets),
        TargetGroupARNs=[group_arn], HealthCheckType="ELB", HealthCheckGracePeriod=300, Tags=tags)
    ctx.did(f"Auto Scaling group {GROUP} (2 to 4 instances in both public subnets, ELB health checks)")


def _scaling_policy(ctx: Context) -> None:
    ctx.client("autoscaling").put_scaling_policy(
        AutoScalingGroupName=GROUP, PolicyName=POLICY, PolicyType="TargetTrackingScaling", EstimatedInstanceWarmup=300,
        TargetTrackingConfiguration={"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                                     "TargetValue": 30.0})
    ctx.did(f"scaling policy {POLICY}: average CPU at 30 %, 300 s warm-up")


def _until_healthy(ctx: Context, group_arn: str, exclude: str | None, wanted: int = 2) -> None:
    """Wait until the group's own instances pass the target group's health checks (AWS takes minutes)."""
    elb = ctx.client("elbv2")
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        health = elb.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]
        healthy = [t for t in health if t["TargetHealth"]["State"] == "healthy" and t["Target"]["Id"] != exclude]
        if len(healthy) >= wanted:
            return
        if not ctx.target.runs_instances or time.monotonic() > deadline:
            raise BootcampError(f"target group {TARGET_GROUP} has {len(healthy)} healthy instances of {GROUP}, "
                                f"not {wanted}: look at its Targets tab, then run `invoke lab.solve 4` again")
        time.sleep(ctx.target.pause(15) if ctx.target.name == "aws" else 0.2)  # the sandbox checks on its own clock


def clean(ctx: Context) -> None:
    network.refuse_blockers(ctx, list(dict.fromkeys(_learners_in_the_network(ctx) + network.blockers(ctx))))
    scaling, elb = ctx.client("autoscaling"), ctx.client("elbv2")
    groups = [g["AutoScalingGroupName"] for g in _groups(ctx) if ctx.is_ours(g.get("Tags"))]
    for name in groups:
        scaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
        ctx.did(f"deleted Auto Scaling group {name} and its instances")
    _until(ctx, lambda: not scaling.describe_auto_scaling_groups(AutoScalingGroupNames=groups)["AutoScalingGroups"],
           "the Auto Scaling groups to go", bool(groups))
    balancers = _ours_in(ctx, _balancers(ctx), "LoadBalancerArn")
    for balancer in balancers:
        elb.delete_load_balancer(LoadBalancerArn=balancer["LoadBalancerArn"])
        ctx.did(f"deleted load balancer {balancer['LoadBalancerName']} and its listeners")
    if balancers and ctx.target.name == "aws":
        ctx.target.wait(elb, "load_balancers_deleted", LoadBalancerArns=[b["LoadBalancerArn"] for b in balancers])
        _until(ctx, lambda: not _balancer_interfaces(ctx, balancers), "the load balancer's network interfaces to go")
    for group in _ours_in(ctx, _target_groups(ctx), "TargetGroupArn"):
        elb.delete_target_group(TargetGroupArn=group["TargetGroupArn"])
        ctx.did(f"deleted target group {group['TargetGroupName']}")
    ec2 = ctx.client("ec2")
    for template in _templates(ctx):
        if ctx.is_ours(template.get("Tags")):
            ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])
            ctx.did(f"deleted launch template {template['LaunchTemplateName']}")
    sns = ctx.client("sns")
    for topic in _our_topics(ctx):
        sns.delete_topic(TopicArn=topic)
        ctx.did(f"deleted SNS topic {topic.rsplit(':', 1)[-1]}")
    own = _learners_own(ctx)
    lab3.clean(ctx)  # the instances (Auto Scaling's too, by their tags), the network, role, bucket and table
    for what in own:
        ctx.log(f"  left {what}: you made it, and lab.clean deletes only what the lab tagged "
                "(delete it in the console, or `invoke sandbox.reset` on the sandbox)")


def _until(ctx: Context, done, what: str, needed: bool = True) -> None:
    if not needed or ctx.target.name != "aws":
        return
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            raise BootcampError(f"waited {WAIT_SECONDS // 60} minutes for {what}: run `invoke lab.clean 4` again")
        time.sleep(ctx.target.pause(10))


def _groups(ctx: Context) -> list[dict]:
    pages = ctx.client("autoscaling").get_paginator("describe_auto_scaling_groups").paginate()
    return [g for page in pages for g in page["AutoScalingGroups"]]


def _balancers(ctx: Context) -> list[dict]:
    pages = ctx.client("elbv2").get_paginator("describe_load_balancers").paginate()
    return [b for page in pages for b in page["LoadBalancers"]]


def _target_groups(ctx: Context) -> list[dict]:
    pages = ctx.client("elbv2").get_paginator("describe_target_groups").paginate()
    return [g for page in pages for g in page["TargetGroups"]]


def _templates(ctx: Context) -> list[dict]:
    pages = ctx.client("ec2").get_paginator("describe_launch_templates").paginate()
    return [t for page in pages for t in page["LaunchTemplates"]]


def _ours_in(ctx: Context, resources: list[dict], arn_key: str) -> list[dict]:
    """The load balancers or target groups this lab tagged (their tags are one more read)."""
    elb, ours = ctx.client("elbv2"), set()
    arns = [r[arn_key] for r in resources]
    for first in range(0, len(arns), 20):
        for described in elb.describe_tags(ResourceArns=arns[first:first + 20])["TagDescriptions"]:
            if ctx.is_ours(described.get("Tags")):
                ours.add(described["ResourceArn"])
    return [r for r in resources if r[arn_key] in ours]


def _topics(ctx: Context) -> dict[str, bool]:
    """Every SNS topic's ARN, and whether this lab tagged it."""
    sns = ctx.client("sns")
    arns = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
    return {arn: ctx.is_ours(sns.list_tags_for_resource(ResourceArn=arn).get("Tags")) for arn in arns}


def _our_topics(ctx: Context) -> list[str]:
    return [arn for arn, ours in _topics(ctx).items() if ours]


def _balancer_interfaces(ctx: Context, balancers: list[dict]) -> list[dict]:
    described = [f"ELB {b['LoadBalancerArn'].split(':loadbalancer/', 1)[-1]}" for b in balancers]
    return ctx.client("ec2").describe_network_interfaces(
        Filters=[{"Name": "description", "Values": described}])["NetworkInterfaces"]


def _lab_network(ctx: Context) -> tuple[set[str], set[str]]:
    """The lab's VPCs and subnets, found by its tags."""
    ec2 = ctx.client("ec2")
    vpcs = {v["VpcId"] for v in ec2.describe_vpcs(Filters=ctx.tag_filters())["Vpcs"]}
    subnets = {s["SubnetId"] for s in ec2.describe_subnets(Filters=ctx.tag_filters())["Subnets"]}
    return vpcs, subnets


def _learners_in_the_network(ctx: Context) -> list[str]:
    """The learner's Auto Scaling groups and load balancers that use the lab's network."""
    vpcs, subnets = _lab_network(ctx)
    if not vpcs:
        return []
    found = [f"Auto Scaling group {g['AutoScalingGroupName']}" for g in _groups(ctx)
             if not ctx.is_ours(g.get("Tags")) and subnets & set(filter(None, g.get("VPCZoneIdentifier", "").split(",")))]
    inside = [b for b in _balancers(ctx) if b.get("VpcId") in vpcs]
    ours = _ours_in(ctx, inside, "LoadBalancerArn")
    found += [f"load balancer {b['LoadBalancerName']}" for b in inside if b not in ours]
    return found  # instances, subnets, groups and the rest: network.blockers


def _learners_own(ctx: Context) -> list[str]:
    """Lab 4 look-alikes the learner made outside the network: named, never deleted."""
    found = [f"target group {g['TargetGroupName']}" for g in _target_groups(ctx)
             if g["TargetGroupName"] == TARGET_GROUP and g not in _ours_in(ctx, [g], "TargetGroupArn")]
    found += [f"launch template {t['LaunchTemplateName']}" for t in _templates(ctx)
              if t["LaunchTemplateName"] == TEMPLATE and not ctx.is_ours(t.get("Tags"))]
    found += [f"SNS topic {TOPIC}" for arn, ours in _topics(ctx).items() if arn.endswith(f":{TOPIC}") and not ours]
    return found


def leftovers(ctx: Context) -> list[str]:
    found = [f"Auto Scaling group {g['AutoScalingGroupName']}" for g in _groups(ctx) if ctx.is_ours(g.get("Tags"))]
    found += [f"load balancer {b['LoadBalancerName']}" for b in _ours_in(ctx, _balancers(ctx), "LoadBalancerArn")]
    found += [f"target group {g['TargetGroupName']}" for g in _ours_in(ctx, _target_groups(ctx), "TargetGroupArn")]
    found += [f"launch template {t['LaunchTemplateName']}" for t in _templates(ctx) if ctx.is_ours(t.get("Tags"))]
    found += [f"SNS topic {arn.rsplit(':', 1)[-1]}" for arn in _our_topics(ctx)]
    found += lab3.leftovers(ctx)
    if user_data_path(ctx).exists():
        found.append(f"file {user_data_path(ctx)}")
    return found
