"""Lab 4 collector: the lab network, instances, target groups (with their targets' health), load
balancers (with their listeners), launch templates (with their versions and images), Auto Scaling
groups (with their policies and notifications), SNS topics, photo buckets, and the app's answers
through the load balancer (on AWS, and on the sandbox through its edge)."""

from __future__ import annotations

import base64

from bootcamp import webapp
from bootcamp.collect import Reader
from bootcamp.inventory import Inventory
from bootcamp.provision import TAG_LAB, name_of, tag_value

TARGET_GROUP, LOAD_BALANCER, TEMPLATE, GROUP = ("lab-app-target-group", "Web-Application-ALB",
                                                "lab-app-launch-template", "app-asg")
DETAIL_LIMIT = 5  # target groups, load balancers and templates whose details are read
VERSION_LIMIT = 20
ASG_TAG = "aws:autoscaling:groupName"


def collect(reader: Reader) -> Inventory:
    ec2 = reader.client("ec2")
    inv = Inventory()
    inv.fetch("region", lambda: reader.target.region)
    inv.fetch("vpcs", lambda: [{"id": v["VpcId"], "name": name_of(v), "lab": tag_value(v, TAG_LAB)}
                               for v in _all(ec2, "describe_vpcs", "Vpcs")])
    inv.fetch("subnets", lambda: [{"id": s["SubnetId"], "name": name_of(s), "lab": tag_value(s, TAG_LAB),
                                   "vpc": s["VpcId"], "az": s["AvailabilityZone"]}
                                  for s in _all(ec2, "describe_subnets", "Subnets")])
    inv.fetch("security_groups", lambda: [{"id": g["GroupId"], "name": g["GroupName"], "vpc": g.get("VpcId", ""),
                                           "lab": tag_value(g, TAG_LAB)}
                                          for g in _all(ec2, "describe_security_groups", "SecurityGroups")])
    inv.fetch("instances", lambda: instances(ec2))
    inv.fetch("target_groups", lambda: target_groups(reader.client("elbv2")))
    inv.fetch("load_balancers", lambda: load_balancers(reader.client("elbv2")))
    inv.fetch("auto_scaling", lambda: auto_scaling(reader.client("autoscaling")))
    inv.fetch("launch_templates", lambda: launch_templates(ec2, inv))
    inv.fetch("topics", lambda: [t["TopicArn"] for t in _all(reader.client("sns"), "list_topics", "Topics")])
    inv.fetch("buckets", lambda: [b["Name"] for b in reader.client("s3").list_buckets()["Buckets"]
                                  if b["Name"].startswith("employee-photo-bucket-")])
    inv.fetch("probe", lambda: probe(reader, inv))
    return inv


def _all(client, operation: str, key: str, **kwargs) -> list[dict]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def instances(ec2) -> list[dict]:
    """Every instance, terminated ones too: step 4.7 asks whether the original one is gone."""
    return [{"id": i["InstanceId"], "name": name_of(i), "lab": tag_value(i, TAG_LAB), "state": i["State"]["Name"],
             "vpc": i.get("VpcId", ""), "subnet": i.get("SubnetId", ""),
             "az": i.get("Placement", {}).get("AvailabilityZone", ""), "group": tag_value(i, ASG_TAG)}
            for r in _all(ec2, "describe_instances", "Reservations") for i in r["Instances"]]


def _chosen(items: list[dict], name_key: str, name: str) -> list[dict]:
    """The course's name first, then the others, as many as are read in detail."""
    return sorted(items, key=lambda x: (x[name_key] != name, x[name_key]))[:DETAIL_LIMIT]


def target_groups(elb) -> list[dict]:
    found = []
    for g in _chosen(_all(elb, "describe_target_groups", "TargetGroups"), "TargetGroupName", TARGET_GROUP):
        health = elb.describe_target_health(TargetGroupArn=g["TargetGroupArn"])["TargetHealthDescriptions"]
        found.append({
            "arn": g["TargetGroupArn"], "name": g["TargetGroupName"], "type": g.get("TargetType", ""),
            "protocol": g.get("Protocol", ""), "port": g.get("Port"), "vpc": g.get("VpcId", ""),
            "health_check": {"protocol": g.get("HealthCheckProtocol", ""), "path": g.get("HealthCheckPath", ""),
                             "healthy": g.get("HealthyThresholdCount"), "unhealthy": g.get("UnhealthyThresholdCount"),
                             "timeout": g.get("HealthCheckTimeoutSeconds"),
                             "interval": g.get("HealthCheckIntervalSeconds"),
                             "matcher": g.get("Matcher", {}).get("HttpCode", "")},
            "targets": [{"id": t["Target"]["Id"], "state": t.get("TargetHealth", {}).get("State", ""),
                         "reason": t.get("TargetHealth", {}).get("Reason", "")} for t in health]})
    return found


def load_balancers(elb) -> list[dict]:
    found = []
    for b in _chosen(_all(elb, "describe_load_balancers", "LoadBalancers"), "LoadBalancerName", LOAD_BALANCER):
        listeners = elb.describe_listeners(LoadBalancerArn=b["LoadBalancerArn"])["Listeners"]
        found.append({
            "arn": b["LoadBalancerArn"], "name": b["LoadBalancerName"], "type": b.get("Type", ""),
            "scheme": b.get("Scheme", ""), "vpc": b.get("VpcId", ""), "dns": b.get("DNSName", ""),
            "state": b.get("State", {}).get("Code", ""), "security_groups": b.get("SecurityGroups", []),
            "zones": [{"az": z["ZoneName"], "subnet": z.get("SubnetId", "")} for z in b.get("AvailabilityZones", [])],
            "listeners": [{"protocol": li.get("Protocol", ""), "port": li.get("Port"),
                           "forwards": _forwards(li.get("DefaultActions", []))} for li in listeners]})
    return found


def _forwards(actions: list[dict]) -> list[str]:
    """The target groups a listener's default actions send requests to ([] when none forwards)."""
    arns = []
    for action in actions:
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            arns.append(action["TargetGroupArn"])
        arns += [g["TargetGroupArn"] for g in action.get("ForwardConfig", {}).get("TargetGroups", [])
                 if g.get("Weight", 1) > 0]
    return sorted(set(arns))


def auto_scaling(scaling) -> dict:
    groups = _all(scaling, "describe_auto_scaling_groups", "AutoScalingGroups")
    policies = _all(scaling, "describe_policies", "ScalingPolicies")
    notices = _all(scaling, "describe_notification_configurations", "NotificationConfigurations")
    return {"groups": [{
        "name": g["AutoScalingGroupName"], "lab": next((t["Value"] for t in g.get("Tags", []) if t["Key"] == TAG_LAB), ""),
        "template": _template_of(g), "min": g.get("MinSize"), "max": g.get("MaxSize"),
        "desired": g.get("DesiredCapacity"), "subnets": [s for s in g.get("VPCZoneIdentifier", "").split(",") if s],
        "target_groups": g.get("TargetGroupARNs", []), "health_check": g.get("HealthCheckType", ""),
        "warmup": g.get("DefaultInstanceWarmup"), "tags": len(g.get("Tags", [])),
        "instances": [{"id": i["InstanceId"], "az": i.get("AvailabilityZone", ""), "state": i.get("LifecycleState", ""),
                       "health": i.get("HealthStatus", "")} for i in g.get("Instances", [])],
        "policies": [_policy(p) for p in policies if p.get("AutoScalingGroupName") == g["AutoScalingGroupName"]],
        "notifications": [{"topic": n["TopicARN"], "type": n["NotificationType"]} for n in notices
                          if n.get("AutoScalingGroupName") == g["AutoScalingGroupName"]]}
        for g in groups]}


def _template_of(group: dict) -> dict:
    spec = group.get("LaunchTemplate") or group.get("MixedInstancesPolicy", {}).get(
        "LaunchTemplate", {}).get("LaunchTemplateSpecification") or {}
    return {"id": spec.get("LaunchTemplateId", ""), "name": spec.get("LaunchTemplateName", ""),
            "version": spec.get("Version", "$Default"),
            "configuration": group.get("LaunchConfigurationName", "")}


def _policy(policy: dict) -> dict:
    tracking = policy.get("TargetTrackingConfiguration") or {}
    return {"name": policy.get("PolicyName", ""), "type": policy.get("PolicyType", ""),
            "metric": (tracking.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType", "")
            or ("custom" if tracking.get("CustomizedMetricSpecification") else ""),
            "target": tracking.get("TargetValue"), "warmup": policy.get("EstimatedInstanceWarmup"),
            "enabled": policy.get("Enabled", True)}


def launch_templates(ec2, inv: Inventory) -> list[dict]:
    """The templates with their versions' data: the course's name first, then those groups use."""
    used = {g["template"]["name"] or g["template"]["id"] for g in inv.data.get("auto_scaling", {}).get("groups", [])}
    templates = sorted(_all(ec2, "describe_launch_templates", "LaunchTemplates"),
                       key=lambda t: (t["LaunchTemplateName"] != TEMPLATE,
                                      t["LaunchTemplateName"] not in used and t["LaunchTemplateId"] not in used))
    found = []
    for t in templates[:DETAIL_LIMIT]:
        versions = ec2.describe_launch_template_versions(LaunchTemplateId=t["LaunchTemplateId"],
                                                         MaxResults=VERSION_LIMIT)["LaunchTemplateVersions"]
        found.append({"id": t["LaunchTemplateId"], "name": t["LaunchTemplateName"],
                      "default": t.get("DefaultVersionNumber"), "latest": t.get("LatestVersionNumber"),
                      "lab": tag_value(t, TAG_LAB),
                      "versions": {str(v["VersionNumber"]): _template_data(v.get("LaunchTemplateData", {}))
                                   for v in versions}})
    images = sorted({v["image"] for t in found for v in t["versions"].values() if v["image"]})
    names = {}
    if images:
        names = {i["ImageId"]: i.get("Name", "") for i in ec2.describe_images(
            ImageIds=images, IncludeDeprecated=True)["Images"]}
    for t in found:
        for v in t["versions"].values():
            v["image_name"] = names.get(v["image"], "")
    return found


def _template_data(data: dict) -> dict:
    profile = data.get("IamInstanceProfile") or {}
    raw = data.get("UserData") or ""
    try:
        script = base64.b64decode(raw).decode("utf-8", "replace") if raw else ""
    except ValueError:
        script = raw
    return {"image": data.get("ImageId", ""), "type": data.get("InstanceType", ""),
            "profile": profile.get("Name") or profile.get("Arn", "").rsplit("/", 1)[-1],
            "tokens": (data.get("MetadataOptions") or {}).get("HttpTokens", ""),
            "metadata_endpoint": (data.get("MetadataOptions") or {}).get("HttpEndpoint", ""),
            "user_data": script}


ASKS = 4  # answers through the load balancer: round robin shows each of two targets twice


def probe(reader: Reader, inv: Inventory) -> dict:
    """Answers from the app through the course's load balancer, where load balancers really answer (AWS, and
    the sandbox through its edge), with the same probe as every target's: who answered, from which AZ,
    and whether it reaches its table and bucket."""
    balancer = next((b for b in inv.data.get("load_balancers", []) if b["name"] == LOAD_BALANCER), None)
    url = reader.target.balancer_url(balancer["dns"]) if balancer and balancer["dns"] else None
    if url is None:
        return {"method": "none", "target": reader.target.name}
    answers = [_answer(webapp.ask(url, employees=False)) for _ in range(ASKS)]
    first = answers[0]
    return {"method": "http", "target": reader.target.name, "url": f"{url}/", "answers": answers,
            "status": first["status"], "error": first["error"], "app": first["app"]}


def _answer(answer: dict) -> dict:
    settings = answer["settings"] or {}
    instance = settings.get("instance") or {}
    return {"status": answer["status"], "error": answer["error"], "app": settings.get("app"),
            "instance": instance.get("instance_id") or "", "az": instance.get("availability_zone") or "",
            "table_error": (settings.get("table") or {}).get("error") or "",
            "bucket_error": (settings.get("bucket") or {}).get("error") or ""}
