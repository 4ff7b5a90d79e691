"""Lab 5 on the sandbox: the app's update files, the sandbox's CloudFront API, start -> every step fails,
solve -> every step passes; the cache through real HTTP (Miss then Hit, Age, what reached the app);
the load balancer dropping this machine once LoadBalancerSG admits only CloudFront; each step's realistic
mistake failing exactly it (judged on the solved account's evidence, and a few for real); valid variants;
clean; LocalStack refused.

One solved lab 5 account serves the module (a start is lab 4's whole solve): the tests that change it
put it back as they found it.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid

import pytest
from botocore.exceptions import ClientError
from conftest import _accounts, _graded, LabDriver, empty_account, run_invoke, sandbox_env

from bootcamp import grading, webapp
from bootcamp.errors import BootcampError
from bootcamp.labmodel import get_lab
from bootcamp.results import FAIL, PASS
from bootcamp.targets import make_target
from employee_directory.config import AppConfig
from employee_directory.web import App
from labs.lab5 import load, provision
from labs.lab5.collect import viewer_url

LAB5 = [s.id for s in get_lab("5").steps]
HANGUL = re.compile("[가-힣]")
OPTIMIZED, DISABLED, ALL_VIEWER = provision.CACHING_OPTIMIZED, provision.CACHING_DISABLED, provision.ALL_VIEWER
VIA = re.compile(r"^1\.1 [0-9a-f]{32}\.cloudfront\.net \(CloudFront\)$")


@pytest.fixture(scope="module")
def account(sandbox, worker_prefix):
    made = sandbox.but(sandbox_account=f"{worker_prefix}{next(_accounts):08d}", owner="tester")
    yield made
    empty_account(made)


@pytest.fixture(scope="module")
def solved(account):
    """Lab 5 started (graded: everything fails), then solved (graded: everything passes), once for the module."""
    lab = LabDriver("5", account)
    lab.run("start")
    lab.before = lab.grade()
    lab.run("solve")
    lab.after, lab.inventory = grading.grade(lab.lab, lab.target, account.home)
    _graded.append((lab.lab, "en", lab.inventory, lab.after.steps, account.sandbox_account))
    return lab


def failing(result) -> dict[str, str]:
    return {s.id: s.message for s in result.steps if s.status != PASS}


def distribution(lab) -> dict:
    [found] = lab.client("cloudfront").list_distributions()["DistributionList"]["Items"]
    return found


def change_distribution(lab, change) -> None:
    cloudfront, dist_id = lab.client("cloudfront"), distribution(lab)["Id"]
    found = cloudfront.get_distribution_config(Id=dist_id)
    config = found["DistributionConfig"]
    change(config)
    cloudfront.update_distribution(Id=dist_id, IfMatch=found["ETag"], DistributionConfig=config)


def lb_group(lab) -> str:
    return lab.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["LoadBalancerSG"]}])["SecurityGroups"][0]["GroupId"]


def balancer_dns(lab) -> str:
    return lab.client("elbv2").describe_load_balancers(Names=["Web-Application-ALB"])["LoadBalancers"][0]["DNSName"]


def origin_requests(lab, path: str) -> int:
    """The requests for `path` the account's apps logged (their console logs: the origin's own count)."""
    folder = lab.settings.home / "dataplane" / lab.settings.sandbox_account
    return sum(log.read_text(errors="replace").count(f'"GET {path} HTTP/') for log in folder.glob("*/console.log"))


def until_logged(lab, path: str, wanted: int) -> int:
    """The apps write a request's log line as they finish it: wait for it (bounded)."""
    deadline = time.monotonic() + 10
    while (count := origin_requests(lab, path)) < wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


# --- the app serves update files a cache may keep; its pages no cache may --------------------

def test_the_app_serves_update_files_for_caches_and_its_pages_for_nobody():
    app = App(AppConfig.from_env({"AWS_DEFAULT_REGION": "us-west-2", "PHOTOS_BUCKET": "x"}))

    def call(method: str, path: str, **headers):
        got = {}
        body = b"".join(app({"REQUEST_METHOD": method, "PATH_INFO": path,
                             **{f"HTTP_{k}": v for k, v in headers.items()}},
                            lambda status, head: got.update(status=status, headers=dict(head))))
        return got["status"], got["headers"], body

    status, headers, body = call("GET", "/updates/2.5.0/employee-directory-2.5.0.pkg")
    assert status == "200 OK" and len(body) == 3 * 1024 * 1024 and headers["Content-Length"] == str(len(body))
    assert headers["Cache-Control"] == "public, max-age=86400" and re.fullmatch(r'"[0-9a-f]{32}"', headers["ETag"])
    again = App(AppConfig.from_env({"AWS_DEFAULT_REGION": "us-west-2"}))  # another instance: the same bytes
    assert b"".join(again({"REQUEST_METHOD": "GET", "PATH_INFO": "/updates/2.5.0/employee-directory-2.5.0.pkg"},
                          lambda *_: None)) == body
    assert call("GET", "/updates/2.4.0/employee-directory-2.4.0.pkg")[1]["ETag"] != headers["ETag"]
    status, kept, body = call("GET", "/updates/2.5.0/employee-directory-2.5.0.pkg", IF_NONE_MATCH=headers["ETag"])
    assert (status, body, kept["ETag"], kept["Cache-Control"]) == ("304 Not Modified", b"", headers["ETag"],
                                                                   "public, max-age=86400")
    status, head, body = call("HEAD", "/updates/2.3.0/release-notes.txt")
    assert status == "200 OK" and body == b"" and int(head["Content-Length"]) > 0
    status, listing, body = call("GET", "/updates/")
    assert status == "200 OK" and listing["Cache-Control"] == "public, max-age=300" and "ETag" in listing
    assert all(f"/updates/{v}/employee-directory-{v}.pkg" in body.decode() for v in ("2.3.0", "2.4.0", "2.5.0"))
    assert call("GET", "/updates/9.9.9/x.pkg")[0] == "404 Not Found"
    for page in ("/health", "/updates/9.9.9/x.pkg"):
        assert call("GET", page)[1]["Cache-Control"] == "no-store"


# --- the sandbox's CloudFront API, as AWS answers --------------------------------------------

def test_the_sandboxs_cloudfront_keeps_policies_etags_and_refuses_what_aws_refuses(settings):
    cloudfront = make_target(settings).client("cloudfront")
    managed = {p["CachePolicy"]["CachePolicyConfig"]["Name"]: p["CachePolicy"]["Id"]
               for p in cloudfront.list_cache_policies(Type="managed")["CachePolicyList"]["Items"]}
    assert managed["Managed-CachingOptimized"] == OPTIMIZED and managed["Managed-CachingDisabled"] == DISABLED
    optimized = cloudfront.get_cache_policy(Id=OPTIMIZED)["CachePolicy"]["CachePolicyConfig"]
    assert (optimized["MinTTL"], optimized["DefaultTTL"], optimized["MaxTTL"]) == (1, 86400, 31536000)
    viewers = {p["OriginRequestPolicy"]["OriginRequestPolicyConfig"]["Name"]: p["OriginRequestPolicy"]["Id"]
               for p in cloudfront.list_origin_request_policies()["OriginRequestPolicyList"]["Items"]}
    assert viewers["Managed-AllViewer"] == ALL_VIEWER
    mine = cloudfront.create_origin_request_policy(OriginRequestPolicyConfig={
        "Name": "user-agent-only", "HeadersConfig": {"HeaderBehavior": "whitelist", "Headers": {"Quantity": 1, "Items": [
            "User-Agent"]}}, "CookiesConfig": {"CookieBehavior": "none"}, "QueryStringsConfig": {"QueryStringBehavior": "all"}})
    assert [p["OriginRequestPolicy"]["OriginRequestPolicyConfig"]["Name"] for p in cloudfront.list_origin_request_policies(
        Type="custom")["OriginRequestPolicyList"]["Items"]] == ["user-agent-only"]
    cloudfront.delete_origin_request_policy(Id=mine["OriginRequestPolicy"]["Id"], IfMatch=mine["ETag"])
    week = {"Name": "a-week", "MinTTL": 0, "DefaultTTL": 604800, "MaxTTL": 31536000,
            "ParametersInCacheKeyAndForwardedToOrigin": {
                "EnableAcceptEncodingGzip": True, "HeadersConfig": {"HeaderBehavior": "none"},
                "CookiesConfig": {"CookieBehavior": "none"}, "QueryStringsConfig": {"QueryStringBehavior": "none"}}}
    made = cloudfront.create_cache_policy(CachePolicyConfig=week)
    with pytest.raises(ClientError, match="CachePolicyAlreadyExists"):
        cloudfront.create_cache_policy(CachePolicyConfig=week)
    with pytest.raises(ClientError, match="InvalidArgument"):
        cloudfront.create_cache_policy(CachePolicyConfig={**week, "Name": "upside-down", "MinTTL": 10, "DefaultTTL": 5})
    with pytest.raises(ClientError, match="IllegalDelete"):
        cloudfront.delete_cache_policy(Id=OPTIMIZED, IfMatch="E23ZP02F085DFQ")
    config = provision.distribution_config("Web-Application-ALB-1.us-west-2.elb.localhost", str(uuid.uuid4()))
    config["CacheBehaviors"]["Items"][0]["CachePolicyId"] = made["CachePolicy"]["Id"]
    created = cloudfront.create_distribution(DistributionConfig=config)
    dist_id = created["Distribution"]["Id"]
    assert re.fullmatch(r"d[0-9a-z]{13}\.cloudfront\.localhost", created["Distribution"]["DomainName"])
    with pytest.raises(ClientError, match="CachePolicyInUse"):
        cloudfront.delete_cache_policy(Id=made["CachePolicy"]["Id"], IfMatch=made["ETag"])
    with pytest.raises(ClientError, match="NoSuchCachePolicy"):
        cloudfront.create_distribution(DistributionConfig={**config, "CallerReference": "other", "DefaultCacheBehavior": {
            **config["DefaultCacheBehavior"], "CachePolicyId": str(uuid.uuid4())}})
    etag = cloudfront.get_distribution(Id=dist_id)["ETag"]
    with pytest.raises(ClientError, match="DistributionNotDisabled"):
        cloudfront.delete_distribution(Id=dist_id, IfMatch=etag)
    current = cloudfront.get_distribution_config(Id=dist_id)
    off = {**current["DistributionConfig"], "Enabled": False}
    newer = cloudfront.update_distribution(Id=dist_id, IfMatch=current["ETag"], DistributionConfig=off)["ETag"]
    with pytest.raises(ClientError, match="PreconditionFailed"):
        cloudfront.delete_distribution(Id=dist_id, IfMatch=etag)  # the ETag before the update
    cloudfront.delete_distribution(Id=dist_id, IfMatch=newer)
    cloudfront.delete_cache_policy(Id=made["CachePolicy"]["Id"], IfMatch=made["ETag"])


def test_an_iam_users_cloudfront_reads_are_signed_and_judged_as_on_aws(settings):
    """A REST GET (no body) by an IAM principal: its signature holds (moto signed its query as a body), then IAM judges."""
    target = make_target(settings)
    iam = target.client("iam")
    iam.create_user(UserName="reader")
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = target.client_as("cloudfront", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError, match="AccessDenied"):
        reader.list_cache_policies(Type="custom")
    iam.put_user_policy(UserName="reader", PolicyName="cloudfront-reads", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "cloudfront:ListDistributions", "cloudfront:ListCachePolicies"]}]}))
    assert reader.list_distributions()["DistributionList"]["Quantity"] == 0
    assert reader.list_cache_policies(Type="custom")["CachePolicyList"]["Quantity"] == 0


# --- start, solve ----------------------------------------------------------------------------

def test_start_fails_every_step_with_a_hint_and_solve_passes_every_step_in_both_languages(solved):
    steps = {s.id: s for s in solved.before.steps}
    assert list(steps) == LAB5 and all(s.status == FAIL and s.hint for s in steps.values()), failing(solved.before)
    assert steps["5.1"].message.startswith("No CloudFront distribution has the load balancer (Web-Application-ALB-")
    assert "0.0.0.0/0" in steps["5.5"].message and "com.amazonaws.global.cloudfront.origin-facing" in steps["5.5"].message
    assert all("finish step 5.1 first" in steps[i].message for i in ("5.2", "5.3", "5.4", "5.6"))
    assert failing(solved.after) == {} and solved.after.score == solved.after.max_score == 12
    probe = solved.inventory["probe"]
    assert probe["app"] == "employee-directory" and probe["file"][1]["x_cache"] == "Hit from cloudfront"
    [origin_facing] = solved.client("ec2").describe_managed_prefix_lists(Filters=[
        {"Name": "prefix-list-name", "Values": ["com.amazonaws.global.cloudfront.origin-facing"]}])["PrefixLists"]
    assert origin_facing["OwnerId"] == "AWS" and solved.inventory["prefix_list"] == origin_facing["PrefixListId"]
    korean = grading.regrade(solved.lab, solved.inventory, "ko")
    assert all(s.status == PASS for s in korean.steps)
    assert get_lab("5").step("5.2").title("ko").startswith("/updates/*용 캐시 동작")


def test_the_cache_through_real_http_and_the_load_balancer_dropping_this_machine(solved):
    base = viewer_url(solved.target, distribution(solved)["DomainName"])
    path = "/updates/2.3.0/employee-directory-2.3.0.pkg"
    assert load.distribution_url(solved.target) == base + "/"  # what `invoke lab.open 5` opens
    first, second = webapp.fetch(base + path), webapp.fetch(base + path)
    assert (first["status"], first["headers"]["x-cache"]) == (200, "Miss from cloudfront")
    assert (second["status"], second["headers"]["x-cache"]) == (200, "Hit from cloudfront")
    assert first["size"] == second["size"] == 2 * 1024 * 1024 and second["headers"]["etag"] == first["headers"]["etag"]
    assert "age" not in first["headers"] and int(second["headers"]["age"]) >= 0
    assert VIA.match(second["headers"]["via"]) and len(second["headers"]["x-amz-cf-id"]) == 56
    assert until_logged(solved, path, 1) == 1  # the app served it once: the second came from the edge
    pages = [webapp.fetch(f"{base}/health") for _ in range(2)]
    assert [(p["status"], p["headers"]["x-cache"]) for p in pages] == [(200, "Miss from cloudfront")] * 2
    assert until_logged(solved, "/health", 2) >= 2  # the pages reach the app every time
    plain = webapp.fetch(f"http://{distribution(solved)['DomainName']}:{solved.settings.sandbox_port}{path}")
    assert plain["status"] == 301 and plain["headers"]["location"] == base + path  # redirect-to-https
    direct = webapp.fetch(solved.target.balancer_url(balancer_dns(solved)) + path)
    assert direct["status"] is None and direct["error"]  # LoadBalancerSG admits only CloudFront: dropped
    assert origin_requests(solved, path) == 1


# --- mistakes, judged on the solved account's evidence ---------------------------------------

def _dist(inv) -> dict:
    return inv["distributions"][0]


def _set(where, **values):
    return lambda inv: where(inv).update(values)


def _updates(inv) -> dict:
    return _dist(inv)["behaviours"][0]


def _default(inv) -> dict:
    return _dist(inv)["default"]


def _lb_rules(inv) -> list[dict]:
    return next(g for g in inv["security_groups"] if g["name"] == "LoadBalancerSG")["ingress"]


def _short_policy(inv):
    inv["cache_policies"]["0d3b5d3e-0000-4000-8000-000000000001"] = {"name": "updates-an-hour", "default_ttl": 3600,
                                                                     "min_ttl": 0, "max_ttl": 3600}
    _updates(inv)["cache_policy"] = "0d3b5d3e-0000-4000-8000-000000000001"


def _disabled(inv):
    _dist(inv)["enabled"] = False
    inv["probe"] = {"method": "none", "target": "embedded", "why": "no enabled distribution of the load balancer"}


def _no_prefix_rule(inv):
    rules = _lb_rules(inv)
    rules[:] = [r for r in rules if not r["prefix_lists"]]
    inv["probe"]["home"] = {"status": 504, "error": "HTTP 504", "x_cache": "Error from cloudfront"}


def _origin_elsewhere(inv):
    _dist(inv)["origins"][0]["domain"] = "ec2-54-214-1-2.us-west-2.compute.localhost"


MISTAKES = {
    # mistake: (the change to the solved evidence, the steps that fail, what the message says)
    "origin over HTTPS only": (lambda inv: _dist(inv)["origins"][0].update(protocol="https-only"), "5.1",
                               "with protocol https-only, but Web-Application-ALB listens on HTTP only"),
    "origin on HTTP port 8080": (lambda inv: _dist(inv)["origins"][0].update(http_port=8080), "5.1",
                                 "on HTTP port 8080, not 80"),
    "origin the instance, not the load balancer": (_origin_elsewhere, ("5.1", "5.2", "5.3", "5.4", "5.6"),
                                                   "No CloudFront distribution has the load balancer"),
    "no /updates/* behaviour": (lambda inv: _dist(inv).update(behaviours=[]), "5.2", "has no cache behaviour for /updates/*"),
    "/updates/* with CachingDisabled": (_set(_updates, cache_policy=DISABLED), "5.2",
                                        "uses cache policy Managed-CachingDisabled, which keeps files 0 s"),
    "/updates/* with a one-hour policy": (_short_policy, "5.2", "updates-an-hour, which keeps files 3600 s"),
    "/updates/* allowing every method": (_set(_updates, methods=sorted(provision.ALL_METHODS)), "5.2",
                                         "allows DELETE, GET, HEAD"),
    "/updates/* without compression": (_set(_updates, compress=False), "5.2", "does not compress objects"),
    "default behaviour caching the pages": (_set(_default, cache_policy=OPTIMIZED), "5.3",
                                            "uses cache policy Managed-CachingOptimized, so CloudFront may serve"),
    "default behaviour without an origin request policy": (_set(_default, origin_request_policy=""), "5.3",
                                                           "has no origin request policy"),
    "default behaviour allowing GET and HEAD only": (_set(_default, methods=["GET", "HEAD"]), "5.3",
                                                     "allows only GET, HEAD"),
    "distribution disabled": (_disabled, ("5.4", "5.6"), "is disabled, so it serves nothing"),
    "distribution still deploying": (_set(_dist, status="InProgress"), "5.4", "is InProgress, not Deployed"),
    "LoadBalancerSG still open to the world": (
        lambda inv: _lb_rules(inv).append({"protocol": "tcp", "from": 80, "to": 80, "cidrs": ["0.0.0.0/0"],
                                           "prefix_lists": [], "groups": []}), "5.5",
        "still lets TCP 80 in from 0.0.0.0/0"),
    "LoadBalancerSG without the prefix list": (_no_prefix_rule, ("5.5", "5.6"), "has no inbound rule for TCP 80 from prefix list"),
    "the second fetch a miss": (lambda inv: inv["probe"]["file"][1].update(x_cache="Miss from cloudfront"), "5.6",
                                "the second answer said X-Cache: Miss from cloudfront"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_fails_exactly_its_step_in_both_languages(solved, mistake):
    change, steps_failing, says = MISTAKES[mistake]
    steps_failing = (steps_failing,) if isinstance(steps_failing, str) else steps_failing
    evidence = copy.deepcopy(solved.inventory)
    change(evidence.data)
    steps = {s.id: s for s in grading.regrade(solved.lab, evidence).steps}
    assert {i for i, s in steps.items() if s.status != PASS} == set(steps_failing), failing_of(steps)
    assert says in " ".join(steps[i].message for i in steps_failing), failing_of(steps)
    korean = {s.id: s for s in grading.regrade(solved.lab, evidence, "ko").steps}
    assert {i for i, s in korean.items() if s.status != PASS} == set(steps_failing)
    assert all(HANGUL.search(korean[i].message) and HANGUL.search(korean[i].hint) for i in steps_failing)


def failing_of(steps: dict) -> dict:
    return {i: s.message for i, s in steps.items() if s.status != PASS}


EVIDENCE_VARIANTS = {
    "the path pattern without its leading slash": _set(_updates, pattern="updates/*"),
    "OPTIONS allowed on /updates/* too": _set(_updates, methods=["GET", "HEAD", "OPTIONS"]),
    "the second fetch revalidated (RefreshHit)": lambda inv: inv["probe"]["file"][1].update(x_cache="RefreshHit from cloudfront"),
}


@pytest.mark.parametrize("variant", EVIDENCE_VARIANTS)
def test_valid_variants_of_the_evidence_pass(solved, variant):
    evidence = copy.deepcopy(solved.inventory)
    EVIDENCE_VARIANTS[variant](evidence.data)
    assert failing_of({s.id: s for s in grading.regrade(solved.lab, evidence).steps}) == {}


# --- mistakes and variants made for real -----------------------------------------------------

def test_the_world_let_back_in_fails_only_the_protection_and_load_shows_both_sides(solved):
    ec2, group = solved.client("ec2"), lb_group(solved)
    world = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=world)
    try:
        result = solved.grade()
        assert list(failing(result)) == ["5.5"] and "still lets TCP 80 in from 0.0.0.0/0" in failing(result)["5.5"]
        out = run_invoke("lab.load", "5", "--requests", "3", env={**sandbox_env(solved.settings), "BOOTCAMP_OWNER": "tester"})
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        rows = {line.split("  ")[0]: line.split()[-2:] for line in out.stdout.splitlines() if "  " in line}
        assert rows["requests sent"] == ["3", "3"] and rows["answered 200"] == ["3", "3"], out.stdout
        assert int(rows["reached the app"][0]) <= 1 and rows["reached the app"][1] == "3", out.stdout
        assert "CPU s" in out.stdout
    finally:
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=world)


def test_an_origin_over_https_fails_its_step_and_the_live_one(solved):
    def https_only(config):
        config["Origins"]["Items"][0]["CustomOriginConfig"]["OriginProtocolPolicy"] = "https-only"

    def http_only(config):
        config["Origins"]["Items"][0]["CustomOriginConfig"]["OriginProtocolPolicy"] = "http-only"

    change_distribution(solved, https_only)
    try:
        found = failing(solved.grade())
        assert set(found) == {"5.1", "5.6"}, found
        assert "HTTP 504" in found["5.6"]  # CloudFront times out: LoadBalancerSG admits CloudFront on 80 only, as on AWS
    finally:
        change_distribution(solved, http_only)


def test_a_custom_week_long_policy_and_viewers_on_http_pass(solved):
    cloudfront = solved.client("cloudfront")
    week = cloudfront.create_cache_policy(CachePolicyConfig={
        "Name": "updates-a-week", "MinTTL": 0, "DefaultTTL": 604800, "MaxTTL": 31536000,
        "ParametersInCacheKeyAndForwardedToOrigin": {
            "EnableAcceptEncodingGzip": True, "EnableAcceptEncodingBrotli": True,
            "HeadersConfig": {"HeaderBehavior": "none"}, "CookiesConfig": {"CookieBehavior": "none"},
            "QueryStringsConfig": {"QueryStringBehavior": "none"}}})["CachePolicy"]["Id"]

    def variant(config):
        config["CacheBehaviors"]["Items"][0]["CachePolicyId"] = week
        for behaviour in (config["DefaultCacheBehavior"], config["CacheBehaviors"]["Items"][0]):
            behaviour["ViewerProtocolPolicy"] = "allow-all"

    def course(config):
        config["CacheBehaviors"]["Items"][0]["CachePolicyId"] = OPTIMIZED
        for behaviour in (config["DefaultCacheBehavior"], config["CacheBehaviors"]["Items"][0]):
            behaviour["ViewerProtocolPolicy"] = "redirect-to-https"

    change_distribution(solved, variant)
    try:
        assert failing(solved.grade()) == {}
        plain = f"http://{distribution(solved)['DomainName']}:{solved.settings.sandbox_port}/updates/2.4.0/release-notes.txt"
        assert [webapp.fetch(plain)["headers"]["x-cache"] for _ in range(2)][1] == "Hit from cloudfront"
    finally:
        change_distribution(solved, course)
        etag = cloudfront.get_cache_policy(Id=week)["ETag"]
        cloudfront.delete_cache_policy(Id=week, IfMatch=etag)


# --- clean, LocalStack, bad input ------------------------------------------------------------

def test_clean_disables_and_deletes_the_labs_distribution_and_leaves_the_learners(settings):
    lab = LabDriver("5", settings)
    cloudfront = lab.client("cloudfront")
    ours = cloudfront.create_distribution_with_tags(DistributionConfigWithTags={
        "DistributionConfig": provision.distribution_config("Web-Application-ALB-1.us-west-2.elb.localhost", "ours"),
        "Tags": {"Items": lab.context().tag_list()}})["Distribution"]
    theirs = cloudfront.create_distribution(DistributionConfig=provision.distribution_config(
        "Web-Application-ALB-1.us-west-2.elb.localhost", "theirs"))["Distribution"]
    assert provision.leftovers(lab.context()) == [f"distribution {ours['Id']}"]
    lab.run("clean")
    log = "\n".join(lab.log)
    assert log.index(f"disabled distribution {ours['Id']}") < log.index(f"deleted distribution {ours['Id']}")
    assert f"left distribution {theirs['Id']} ({theirs['DomainName']}): you made it" in log
    assert [d["Id"] for d in cloudfront.list_distributions()["DistributionList"]["Items"]] == [theirs["Id"]]
    assert provision.leftovers(lab.context()) == []


def test_start_refuses_an_account_where_lab_4_is_set_up_before_making_anything(settings):
    scaling = make_target(settings).client("autoscaling")
    scaling.create_launch_configuration(LaunchConfigurationName="lab4", ImageId="ami-12c6146b", InstanceType="t3.micro")
    scaling.create_auto_scaling_group(AutoScalingGroupName="app-asg", LaunchConfigurationName="lab4", MinSize=0,
                                      MaxSize=0, AvailabilityZones=["us-west-2a"], Tags=[
                                          {"Key": "bootcamp:lab", "Value": "4", "PropagateAtLaunch": True}])
    lab = LabDriver("5", settings)
    with pytest.raises(BootcampError) as refused:
        lab.run("start")
    said = str(refused.value)
    assert "\n" not in said and "belongs to lab 4" in said and "run `invoke lab.clean 4` first" in said, said
    assert lab.log == [] and make_target(settings).client("iam").list_roles()["Roles"] == []


def test_lab_list_says_why_not_localstack_and_load_takes_only_a_number():
    """What an emulator answering refuses lab 5 for is asked of it (tests/test_localstack.py)."""
    assert get_lab("5").targets()["localstack"] == (
        "not on LocalStack's free edition (no elbv2, autoscaling, cloudfront); "
        "not on LocalEmu (it lacks autoscaling:PutNotificationConfiguration); "
        "not on MiniStack (it lacks autoscaling:PutNotificationConfiguration)")
    for bad in ("0", "x", "501"):
        with pytest.raises(BootcampError, match="is not a number of requests from 1 to 500"):
            load.check_requests(bad)


# --- the sandbox's CloudFront rules, as pure functions ---------------------------------------

def test_cloudfronts_ttls_path_patterns_and_forwarded_headers():
    from bootcamp.sandbox.dataplane import adapter, cloudfront

    optimized = adapter.CfPolicy(id=OPTIMIZED, min_ttl=1, default_ttl=86400, max_ttl=31536000)
    disabled = adapter.CfPolicy(id=DISABLED)
    assert cloudfront.ttl_of(optimized, [("Cache-Control", "public, max-age=86400")]) == 86400
    assert cloudfront.ttl_of(optimized, [("Cache-Control", "max-age=60, s-maxage=600")]) == 600  # s-maxage wins
    assert cloudfront.ttl_of(optimized, [("Cache-Control", "max-age=99999999999")]) == 31536000  # MaxTTL caps it
    assert cloudfront.ttl_of(optimized, [("Cache-Control", "no-store")]) == 1  # MinTTL > 0 keeps it that long
    assert cloudfront.ttl_of(adapter.CfPolicy(id="", min_ttl=0, default_ttl=5, max_ttl=60),
                             [("Cache-Control", "no-store")]) == 0
    assert cloudfront.ttl_of(optimized, []) == 86400  # no Cache-Control: DefaultTTL
    assert cloudfront.ttl_of(disabled, [("Cache-Control", "public, max-age=86400")]) == 0
    assert cloudfront.matches("/updates/*", "/updates/2.5.0/a.pkg?x=1") and cloudfront.matches("updates/*", "/updates/")
    assert not cloudfront.matches("/updates/*", "/Updates/2.5.0/a.pkg") and not cloudfront.matches("/updates/*", "/")
    assert cloudfront.matches("/img/?.png", "/img/a.png") and not cloudfront.matches("/img/?.png", "/img/ab.png")
    origin = adapter.CfOrigin("alb", "alb-1.us-west-2.elb.localhost", "", "http-only", 80, 443)
    viewer = {"Host": "d1.cloudfront.localhost", "Cookie": "s=1", "Accept": "*/*", "User-Agent": "curl"}
    everything = adapter.CfBehaviour("", "alb", "allow-all", ("GET",), ("GET",), disabled,
                                     adapter.CfPolicy(id=ALL_VIEWER, headers="allViewer", cookies="all",
                                                      query_strings="all"), disabled)
    assert cloudfront.forwarded(everything, disabled, origin, viewer, "d1.cloudfront.localhost") == viewer
    bare = adapter.CfBehaviour("/updates/*", "alb", "allow-all", ("GET",), ("GET",), optimized, None, optimized)
    assert cloudfront.forwarded(bare, optimized, origin, viewer, "d1.cloudfront.localhost") == {
        "Host": "alb-1.us-west-2.elb.localhost", "User-Agent": "Amazon CloudFront"}  # the cache key's only
