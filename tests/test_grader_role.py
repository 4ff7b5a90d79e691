"""The grader role a learner deploys for the instructor (deploy/grader-role.yaml): its policy lists
exactly the reads the graders call, and on the sandbox, with IAM enforced, an instructor who
assumes it grades every lab as the account's root would, and cannot write."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from bootcamp import grading, readonly
from bootcamp.classroom import roster
from bootcamp.classroom.run import grade_class
from bootcamp.errors import ReadOnlyViolation
from bootcamp.labmodel import all_labs, get_lab
from bootcamp.results import PASS
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.targets import EmbeddedTarget
from conftest import ROOT, LabDriver

TEMPLATE = ROOT / "deploy" / "grader-role.yaml"
EXTERNAL_ID = "bootcamp-class-7f3a9c"
# Reads only the `aws` target makes, so a grade on the sandbox cannot record them.
AWS_ONLY = {
    "iam:SimulatePrincipalPolicy",  # lab 1, step 1.4: the users' effective permissions
}
DENIED = {"AccessDenied", "UnauthorizedOperation"}
PHASES = ("after start", "after solve")
_accounts = itertools.count(1)


# --- the template -----------------------------------------------------------------------------

class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt), each read as its long form."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)


def role_properties() -> dict:
    [role] = [r for r in template()["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    return role["Properties"]


def policy_statements() -> list[dict]:
    [policy] = role_properties()["Policies"]
    return policy["PolicyDocument"]["Statement"]


def policy_actions() -> list[str]:
    return [a for s in policy_statements() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]


# --- accounts, the deployed role, the instructor ----------------------------------------------

def fresh_settings(sandbox: Settings, worker_prefix: str, kind: str) -> Settings:
    """A new sandbox account: kind "7" learners, "6" instructors (apart from conftest's accounts)."""
    return sandbox.but(sandbox_account=f"{worker_prefix}{kind}{next(_accounts):07d}", owner="learner")


def deploy_grader_role(learner: LabDriver, instructor: str, external_id: str = EXTERNAL_ID) -> str:
    """Deploy the template through the sandbox's CloudFormation, as the learner; its RoleArn output."""
    cfn = learner.client("cloudformation")
    cfn.create_stack(StackName="bootcamp-grader", TemplateBody=TEMPLATE.read_text(),
                     Capabilities=["CAPABILITY_NAMED_IAM"],
                     Parameters=[{"ParameterKey": "InstructorAccountId", "ParameterValue": instructor},
                                 {"ParameterKey": "ExternalId", "ParameterValue": external_id}])
    [stack] = cfn.describe_stacks(StackName="bootcamp-grader")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["RoleArn"]


def assume(instructor: Settings, role_arn: str, external_id: str | None = EXTERNAL_ID) -> tuple[str, str, str]:
    """The instructor account's root assumes the learner's grader role: temporary credentials."""
    extra = {"ExternalId": external_id} if external_id is not None else {}
    answer = EmbeddedTarget(instructor).client("sts").assume_role(
        RoleArn=role_arn, RoleSessionName="bootcamp-grader-test", **extra)["Credentials"]
    return answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"]


def raw_client(settings: Settings, service: str, credentials: tuple[str, str, str]):
    """A plain boto3 client on those credentials: no read-only guard, only the sandbox's IAM."""
    key, secret, token = credentials
    return boto3.client(service, endpoint_url=control.endpoint(settings), region_name="us-west-2",
                        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token)


@dataclass
class LabRun:
    """One lab in one learner account, graded by its root and by the instructor through the role."""

    learner: LabDriver
    instructor: Settings
    role_arn: str
    grades: dict[tuple[str, str], object] = field(default_factory=dict)  # (who, phase) -> GradeResult
    actions: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (who, phase) -> IAM actions


@pytest.fixture(scope="module")
def runs(sandbox, worker_prefix, tmp_path_factory) -> dict[str, LabRun]:
    """Every lab: start, grade as root and as the grader role, solve, grade both ways again."""
    found = {}
    for lab_id in all_labs():
        learner = LabDriver(lab_id, fresh_settings(sandbox, worker_prefix, "7"))
        instructor = fresh_settings(sandbox, worker_prefix, "6")
        instructor_home = tmp_path_factory.mktemp(f"instructor-lab{lab_id}")  # none of the learner's state
        run = LabRun(learner, instructor, deploy_grader_role(learner, instructor.sandbox_account))
        role = EmbeddedTarget(learner.settings, assume(instructor, run.role_arn))
        learner.run("start")
        with learner.running():  # lab 3's app: the role's grade asks it too
            for phase, action in zip(PHASES, (None, "solve")):
                if action:
                    learner.run(action)
                with readonly.recording() as as_root:
                    run.grades["root", phase] = learner.grade()
                with readonly.recording() as as_role:
                    run.grades["role", phase], _ = grading.grade(learner.lab, role, instructor_home)
                run.actions["root", phase] = as_root.actions()
                run.actions["role", phase] = as_role.actions()
        found[lab_id] = run
    return found


# --- (a) the policy lists exactly what the graders call ---------------------------------------

def test_policy_lists_exactly_the_reads_the_graders_call(runs):
    recorded = set().union(*(actions for run in runs.values() for actions in run.actions.values()))
    assert recorded, "no calls were recorded: is readonly.recording() wired into the guard?"
    expected = recorded | AWS_ONLY
    listed = policy_actions()
    missing, extra = sorted(expected - set(listed)), sorted(set(listed) - expected)
    assert not missing and not extra, (
        f"deploy/grader-role.yaml BootcampGraderReadOnly is out of sync with the graders: "
        f"add {missing or 'nothing'}; remove {extra or 'nothing'} "
        f"(or list an aws-target-only read in AWS_ONLY of this test)")
    assert len(listed) == len(set(listed)), "an action is listed twice"
    assert not recorded & AWS_ONLY, "an AWS_ONLY action is called on the sandbox too: drop it from AWS_ONLY"


def test_recording_sees_only_the_grading_identitys_own_calls(lab1):
    """Lab 1 probes as its users (client_as): those calls are borrowed, not the grader's."""
    lab1.run("start")
    with readonly.recording() as record:
        lab1.grade()
    assert "iam:GetAccountAuthorizationDetails" in record.actions()
    assert "s3:ListAllMyBuckets" not in record.actions()
    assert "s3:ListAllMyBuckets" in record.actions(borrowed=True)
    with readonly.recording() as outside:
        pass
    lab1.grade()
    assert outside.calls == set()


@pytest.mark.parametrize("service, operation, action", [
    ("ec2", "DescribeInstances", "ec2:DescribeInstances"),
    ("elbv2", "DescribeTargetHealth", "elasticloadbalancing:DescribeTargetHealth"),
    ("s3", "ListBuckets", "s3:ListAllMyBuckets"), ("s3", "HeadBucket", "s3:ListBucket"),
    ("s3", "HeadObject", "s3:GetObject"), ("s3", "GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
    ("sts", "GetCallerIdentity", None),
])
def test_iam_action_names(service, operation, action):
    assert readonly.iam_action(service, operation) == action


def test_the_role_is_read_only_and_trusts_only_the_instructor():
    props = role_properties()
    [statement] = policy_statements()
    assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
    assert all("*" not in a for a in policy_actions()), "explicit actions only, no wildcards"
    writes = [a for a in policy_actions() if not readonly.is_read(*a.split(":", 1), {})]
    assert not writes, f"the grader role must only read: {writes}"
    assert [p["PolicyName"] for p in props["Policies"]] == ["BootcampGraderReadOnly"]
    assert props["MaxSessionDuration"] == 3600
    assert {"Key": "bootcamp:lab", "Value": "grader"} in props["Tags"]
    [trust] = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:aws:iam::${InstructorAccountId}:root"}}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    params = template()["Parameters"]
    assert params["InstructorAccountId"]["AllowedPattern"] == "^[0-9]{12}$"
    assert params["ExternalId"]["MinLength"] == 8 and params["RoleName"]["Default"] == "BootcampGrader"
    assert set(template()["Outputs"]) == {"RoleArn", "ExternalId"}


def test_template_passes_cfn_lint():
    """cfn-lint checks the template against CloudFormation's own resource specification."""
    lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    if not os.path.exists(lint):
        pytest.skip("cfn-lint is not installed (it comes with moto[server])")
    done = subprocess.run([lint, str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# --- (b) with only that policy, the instructor grades right and cannot write ------------------

@pytest.mark.parametrize("lab_id", list(all_labs()))
def test_grader_role_grades_as_the_root_does(runs, lab_id):
    run = runs[lab_id]
    for phase in PHASES:
        as_root = {s.id: (s.status, s.message) for s in run.grades["root", phase].steps}
        as_role = {s.id: (s.status, s.message) for s in run.grades["role", phase].steps}
        assert as_role == as_root, phase
    assert {s.status for s in run.grades["role", "after solve"].steps} == {PASS}
    assert run.grades["role", "after solve"].account == run.learner.settings.sandbox_account


def test_class_grading_through_grader_roles(runs, tmp_path):
    """`class.grade`'s own path: a roster of role ARNs and external ids, assumed by the instructor."""
    for lab_id, run in runs.items():
        text = f"learner_id,name,role_arn,external_id\nl{lab_id},Learner,{run.role_arn},{EXTERNAL_ID}\n"
        with run.learner.running():  # lab 3's app, asked for its settings
            graded = grade_class(get_lab(lab_id), roster.parse(text), EmbeddedTarget(run.instructor))
        [grade] = graded.grades
        assert not grade.error, grade.error
        assert {s.id: s.status for s in grade.result.steps} == {s.id: PASS for s in grade.result.steps}


@pytest.fixture
def learner_with_role(sandbox, worker_prefix):
    """Lab 1 started (a running instance, a bucket) in a learner account that deployed the role."""
    learner = LabDriver("1", fresh_settings(sandbox, worker_prefix, "7"))
    learner.run("start")
    instructor = fresh_settings(sandbox, worker_prefix, "6")
    return learner, instructor, deploy_grader_role(learner, instructor.sandbox_account)


def test_grader_role_cannot_write(learner_with_role):
    learner, instructor, role_arn = learner_with_role
    credentials = assume(instructor, role_arn)
    ec2, iam, s3 = (raw_client(learner.settings, s, credentials) for s in ("ec2", "iam", "s3"))
    [instance] = [i for r in learner.client("ec2").describe_instances()["Reservations"] for i in r["Instances"]]
    [bucket] = [b["Name"] for b in learner.client("s3").list_buckets()["Buckets"]]
    writes = {
        "ec2:CreateVpc": lambda: ec2.create_vpc(CidrBlock="10.99.0.0/16"),
        "iam:CreateUser": lambda: iam.create_user(UserName="intruder"),
        "s3:CreateBucket": lambda: s3.create_bucket(
            Bucket=f"intruder-{learner.settings.sandbox_account}",
            CreateBucketConfiguration={"LocationConstraint": "us-west-2"}),
        "s3:PutObject": lambda: s3.put_object(Bucket=bucket, Key="intruder.txt", Body=b"x"),
        "ec2:StopInstances": lambda: ec2.stop_instances(InstanceIds=[instance["InstanceId"]]),
    }
    for action, write in writes.items():
        with pytest.raises(ClientError) as refused:
            write()
        assert refused.value.response["Error"]["Code"] in DENIED, (action, refused.value.response["Error"])
    root_ec2 = learner.client("ec2")
    assert [v["CidrBlock"] for v in root_ec2.describe_vpcs()["Vpcs"]] == ["172.31.0.0/16"]
    assert "intruder" not in [u["UserName"] for u in learner.client("iam").list_users()["Users"]]
    assert [b["Name"] for b in learner.client("s3").list_buckets()["Buckets"]] == [bucket]
    assert learner.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    state = root_ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"


def test_guarded_clients_refuse_a_write_before_sending_it(learner_with_role):
    learner, instructor, role_arn = learner_with_role
    role = EmbeddedTarget(learner.settings, assume(instructor, role_arn))
    assert role.account_id == learner.settings.sandbox_account
    ec2 = role.client("ec2", readonly_guard=True)

    def sent() -> int:
        rows = control.stats(learner.settings)["by_account_service"]
        return sum(r["requests"] for r in rows if r["account"] == learner.settings.sandbox_account)

    before = sent()
    with pytest.raises(ReadOnlyViolation, match="ec2:CreateVpc"):
        ec2.create_vpc(CidrBlock="10.99.0.0/16")
    with pytest.raises(ReadOnlyViolation, match="iam:CreateUser"):
        role.client("iam", readonly_guard=True).create_user(UserName="intruder")
    assert sent() == before, "a refused write reached the sandbox"
    ec2.describe_vpcs()  # reads go through, signed as the role
    assert sent() == before + 1


# --- (c) AssumeRole checks the trust policy's account and external id -------------------------

def test_assume_role_needs_the_trusted_account_and_the_external_id(learner_with_role, sandbox, worker_prefix):
    learner, instructor, role_arn = learner_with_role
    stranger = fresh_settings(sandbox, worker_prefix, "6")
    refusals = {
        "a wrong external id": lambda: assume(instructor, role_arn, "not-the-class-id"),
        "no external id": lambda: assume(instructor, role_arn, None),
        "an untrusted account": lambda: assume(stranger, role_arn),
    }
    for why, attempt in refusals.items():
        with pytest.raises(ClientError) as refused:
            attempt()
        error = refused.value.response["Error"]
        assert error["Code"] == "AccessDenied", why
        assert f"is not authorized to perform: sts:AssumeRole on resource: {role_arn}" in error["Message"], why
    key, _, token = assume(instructor, role_arn)
    assert key.startswith("ASIA") and token


def run_aws(cli: Path, settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """The venv's AWS CLI (forked from the worker's loaded copy, conftest's `aws_cli`) as the root of that account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=settings.sandbox_account, AWS_SECRET_ACCESS_KEY=control.SECRET,
               AWS_DEFAULT_REGION="us-west-2", AWS_EC2_METADATA_DISABLED="true")
    return subprocess.run([str(cli), *args, "--endpoint-url", control.endpoint(settings),
                           "--output", "json"], env=env, capture_output=True, text=True, timeout=60)


def test_assume_role_with_the_aws_cli(learner_with_role, aws_cli):
    learner, instructor, role_arn = learner_with_role
    base = ["sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "cli-grader"]
    wrong = run_aws(aws_cli, instructor, *base, "--external-id", "not-the-class-id")
    assert wrong.returncode != 0 and "AccessDenied" in wrong.stderr, wrong.stderr
    right = run_aws(aws_cli, instructor, *base, "--external-id", EXTERNAL_ID)
    assert right.returncode == 0, right.stderr
    answer = json.loads(right.stdout)
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/BootcampGrader/cli-grader")
    assert answer["Credentials"]["SessionToken"]


def test_sandbox_judges_s3_reads_by_iams_action_names(learner_with_role):
    """moto names HeadBucket's permission s3:HeadBucket; AWS (and so the grader role) s3:ListBucket."""
    learner = learner_with_role[0]
    iam = learner.client("iam")
    [bucket] = [b["Name"] for b in learner.client("s3").list_buckets()["Buckets"]]
    iam.create_user(UserName="s3-reader")
    iam.put_user_policy(UserName="s3-reader", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketPublicAccessBlock"],
                       "Resource": "*"}]}))
    key = iam.create_access_key(UserName="s3-reader")["AccessKey"]
    s3 = learner.target.client_as("s3", key["AccessKeyId"], key["SecretAccessKey"])
    s3.head_bucket(Bucket=bucket)
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]  # allowed
    assert block["BlockPublicPolicy"] is True  # every new bucket has it on, as on AWS
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.get_bucket_tagging(Bucket=bucket)
