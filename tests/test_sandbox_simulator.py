"""iam:SimulatePrincipalPolicy and SimulateCustomPolicy on the sandbox, over HTTP with boto3: the
decisions, matched statements and missing context values AWS's simulator reports."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from bootcamp.sandbox import control

READ_S3 = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
SMALL_TYPES = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Describe", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
    {"Sid": "StopSmall", "Effect": "Allow", "Action": ["ec2:StartInstances", "ec2:StopInstances"],
     "Resource": "*", "Condition": {"StringLike": {"ec2:InstanceType": ["*.nano", "*.micro"]}}}]}
NO_DELETES = {"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}}


def _doc(policy: dict) -> str:
    return json.dumps(policy, indent=2)


@pytest.fixture
def iam(target):
    iam = target.client("iam")
    iam.create_group(GroupName="Admins")
    iam.put_group_policy(GroupName="Admins", PolicyName="SmallTypes", PolicyDocument=_doc(SMALL_TYPES))
    iam.create_group(GroupName="Readers")
    iam.attach_group_policy(GroupName="Readers", PolicyArn=READ_S3)
    for user, groups in {"ann": ["Admins"], "bob": ["Readers"], "cy": []}.items():
        iam.create_user(UserName=user)
        for group in groups:
            iam.add_user_to_group(UserName=user, GroupName=group)
    return iam


def simulate(iam, user: str, *actions: str, **extra) -> dict[str, dict]:
    arn = iam.get_user(UserName=user)["User"]["Arn"]
    answer = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=list(actions), **extra)
    return {r["EvalActionName"]: r for r in answer["EvaluationResults"]}


def instance_type(value: str) -> list[dict]:
    return [{"ContextKeyName": "ec2:InstanceType", "ContextKeyType": "string", "ContextKeyValues": [value]}]


def test_managed_policy_of_a_group_allows_and_the_rest_is_an_implicit_deny(iam):
    found = simulate(iam, "bob", "s3:ListAllMyBuckets", "ec2:DescribeInstances")
    allowed, other = found["s3:ListAllMyBuckets"], found["ec2:DescribeInstances"]
    assert allowed["EvalDecision"] == "allowed" and allowed["EvalResourceName"] == "*"
    [matched] = allowed["MatchedStatements"]
    assert matched["SourcePolicyId"] == "AmazonS3ReadOnlyAccess" and matched["SourcePolicyType"] == "aws-managed"
    assert matched["StartPosition"]["Line"] >= 1 and matched["EndPosition"]["Line"] >= matched["StartPosition"]["Line"]
    assert other["EvalDecision"] == "implicitDeny" and other["MatchedStatements"] == []
    assert other["MissingContextValues"] == []


def test_a_user_in_no_group_is_denied_everything(iam):
    assert {r["EvalDecision"] for r in simulate(iam, "cy", "s3:ListAllMyBuckets", "ec2:StopInstances").values()} \
        == {"implicitDeny"}


def test_group_inline_policy_with_a_condition_needs_its_context_key(iam):
    without = simulate(iam, "ann", "ec2:StopInstances", "ec2:DescribeInstances")
    assert without["ec2:StopInstances"]["EvalDecision"] == "implicitDeny"
    assert without["ec2:StopInstances"]["MissingContextValues"] == ["ec2:InstanceType"]
    assert without["ec2:DescribeInstances"]["EvalDecision"] == "allowed"
    [describe] = without["ec2:DescribeInstances"]["MatchedStatements"]
    assert (describe["SourcePolicyId"], describe["SourcePolicyType"]) == ("SmallTypes", "group")
    assert describe["StartPosition"] == {"Line": 4, "Column": 5}  # the first statement, as _doc indents it

    small = simulate(iam, "ann", "ec2:StopInstances", ContextEntries=instance_type("t3.micro"))["ec2:StopInstances"]
    assert small["EvalDecision"] == "allowed" and small["MissingContextValues"] == []
    assert small["MatchedStatements"][0]["StartPosition"]["Line"] == 10  # the second statement
    large = simulate(iam, "ann", "ec2:StopInstances", ContextEntries=instance_type("m5.large"))["ec2:StopInstances"]
    assert large["EvalDecision"] == "implicitDeny"


def test_an_explicit_deny_wins_over_an_allow(iam):
    iam.put_user_policy(UserName="bob", PolicyName="NoDeletes", PolicyDocument=_doc(NO_DELETES))
    iam.put_user_policy(UserName="bob", PolicyName="All", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    found = simulate(iam, "bob", "s3:DeleteBucket", "s3:GetObject")
    assert found["s3:DeleteBucket"]["EvalDecision"] == "explicitDeny"
    assert [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in found["s3:DeleteBucket"]["MatchedStatements"]] \
        == [("NoDeletes", "user")]
    assert found["s3:GetObject"]["EvalDecision"] == "allowed"


def test_a_resource_policy_grants_the_caller_and_custom_policies_are_judged_alone(iam):
    bucket = "arn:aws:s3:::photos"
    arn = iam.get_user(UserName="cy")["User"]["Arn"]
    grant = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "s3:ListBucket", "Resource": bucket}]})
    found = simulate(iam, "cy", "s3:ListBucket", ResourceArns=[bucket], ResourcePolicy=grant)["s3:ListBucket"]
    assert found["EvalDecision"] == "allowed" and found["EvalResourceName"] == bucket
    assert found["MatchedStatements"][0]["SourcePolicyType"] == "resource"

    custom = iam.simulate_custom_policy(PolicyInputList=[_doc(NO_DELETES)], ActionNames=["s3:DeleteObject"])
    [result] = custom["EvaluationResults"]
    assert result["EvalDecision"] == "explicitDeny"
    assert result["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"


def test_unknown_principals_and_malformed_policies_are_refused_as_iam_refuses_them(iam, target):
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{target.account_id}:user/nobody",
                                      ActionNames=["s3:ListAllMyBuckets"])
    with pytest.raises(ClientError, match="MalformedPolicyDocument"):
        iam.simulate_custom_policy(PolicyInputList=["{not json"], ActionNames=["s3:ListAllMyBuckets"])


def test_an_iam_user_needs_permission_to_simulate_and_simulations_are_counted(iam, target, settings):
    key = iam.create_access_key(UserName="cy")["AccessKey"]
    as_cy = target.client_as("iam", key["AccessKeyId"], key["SecretAccessKey"])
    arn = iam.get_user(UserName="bob")["User"]["Arn"]
    with pytest.raises(ClientError, match="AccessDenied"):
        as_cy.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:ListAllMyBuckets"])
    iam.put_user_policy(UserName="cy", PolicyName="Simulate", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": "*"}]}))
    answer = as_cy.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:ListAllMyBuckets"])
    assert answer["EvaluationResults"][0]["EvalDecision"] == "allowed"
    counted = {r["action"]: r["requests"] for r in control.stats(settings)["iam_simulations"]
               if r["account"] == settings.sandbox_account}
    assert counted["SimulatePrincipalPolicy"] == 1  # the refused call was never served


RUN_SMALL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*",
     "Condition": {"StringLike": {"ec2:InstanceType": ["*.nano", "*.micro"]}}},
    {"Effect": "Allow", "NotAction": ["iam:*", "ec2:*"], "Resource": "*"}]}


def test_what_the_sandbox_enforces_is_what_its_simulator_answers(iam, target):
    """moto's own evaluation would let cy launch an m5.large (it compares only StringEquals and counts the
    missing ec2:InstanceType as met); the sandbox decides with the simulator's evaluation instead."""
    iam.put_user_policy(UserName="cy", PolicyName="RunSmall", PolicyDocument=_doc(RUN_SMALL))
    key = iam.create_access_key(UserName="cy")["AccessKey"]
    session = boto3.Session(key["AccessKeyId"], key["SecretAccessKey"], region_name="us-west-2")
    as_cy = {service: session.client(service, endpoint_url=target.endpoint(service))
             for service in ("ec2", "sns", "iam")}

    def enforced(call) -> str:
        try:
            call()
        except ClientError as exc:
            return "allowed" if exc.response["Error"]["Code"] == "DryRunOperation" else exc.response["Error"]["Code"]
        return "allowed"

    for size in ("t3.micro", "m5.large"):
        said = simulate(iam, "cy", "ec2:RunInstances", ContextEntries=instance_type(size))["ec2:RunInstances"]
        done = enforced(lambda: as_cy["ec2"].run_instances(ImageId="ami-12c6146b", InstanceType=size, MinCount=1,
                                                           MaxCount=1, DryRun=True))
        expected = ("allowed", "allowed") if size == "t3.micro" else ("implicitDeny", "UnauthorizedOperation")
        assert (said["EvalDecision"], done) == expected, size  # UnauthorizedOperation: EC2's word, as on AWS
    said = simulate(iam, "cy", "sns:ListTopics", "iam:ListUsers")
    assert [said[a]["EvalDecision"] for a in ("sns:ListTopics", "iam:ListUsers")] == ["allowed", "implicitDeny"]
    assert enforced(as_cy["sns"].list_topics) == "allowed"
    assert enforced(as_cy["iam"].list_users) == "AccessDenied"
