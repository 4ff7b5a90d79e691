"""Hints that name the one fix for what is wrong, the same in the text and in the CLI command."""

from __future__ import annotations

import pytest

from bootcamp.results import PASS
from labs.lab3 import provision
from labs.lab3.provision import DIRECT_ITEM


def route_tables(lab, name: str) -> dict:
    return lab.client("ec2").describe_route_tables(
        Filters=[{"Name": "tag:Name", "Values": [name]}])["RouteTables"][0]


def test_2_4_names_create_route_when_the_route_is_missing_and_one_table_when_unassociated(lab2):
    lab2.run("start")
    lab2.run("solve")
    ec2, public = lab2.client("ec2"), route_tables(lab2, "lab-2-rtb-public")
    igw = next(r["GatewayId"] for r in public["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")
    ec2.delete_route(RouteTableId=public["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    text, cli = lab2.step("2.4").hint.split("CLI:")
    assert "lab-2-rtb-public" in text and "Add a route 0.0.0.0/0" in text
    assert (f"aws ec2 create-route --route-table-id {public['RouteTableId']} --destination-cidr-block 0.0.0.0/0 "
            f"--gateway-id {igw}") in cli

    ec2.create_route(RouteTableId=public["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    for association in public["Associations"]:
        ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    step = lab2.step("2.4")
    text, cli = step.hint.split("CLI:")
    assert "not associated" in step.message
    assert "Associate both public subnets with route table lab-2-rtb-public" in text and "Add a route" not in text
    assert f"associate-route-table --route-table-id {public['RouteTableId']} --subnet-id subnet-" in cli


@pytest.fixture
def lab3_solved(lab3):
    lab3.run("start")
    lab3.run("solve")
    return lab3


def test_3_1_with_block_public_access_off_says_turn_it_on_for_that_bucket(lab3_solved):
    bucket = lab3_solved.context().state.load()["bucket"]
    lab3_solved.client("s3").put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    step = lab3_solved.step("3.1")
    assert step.status != PASS
    assert "create" not in step.hint.lower() and "<bucket>" not in step.hint and "..." not in step.hint
    assert f"Turn on Block all public access for {bucket}" in step.hint
    assert (f"put-public-access-block --bucket {bucket} --public-access-block-configuration BlockPublicAcls=true,"
            "IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true") in step.hint
    ko = lab3_solved.step("3.1", lang="ko")
    assert "만드세요" not in ko.hint and "<버킷>" not in ko.hint and f"--bucket {bucket}" in ko.hint


def test_3_6_counts_one_other_item(lab3_solved):
    ddb = lab3_solved.client("dynamodb")
    for item in ddb.scan(TableName="Employees")["Items"]:
        if item["id"]["S"] != DIRECT_ITEM["id"]["S"]:
            ddb.delete_item(TableName="Employees", Key={"id": item["id"]})
    with lab3_solved.running():
        step = lab3_solved.step("3.6")
    assert step.message == "Table Employees has no employee added through the app yet (it has 1 other item)."


def test_3_6_points_back_to_3_3_when_the_app_has_no_bucket(lab3):
    lab3.run("start")
    ddb = lab3.client("dynamodb")
    ddb.create_table(TableName="Employees", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    ddb.put_item(TableName="Employees", Item=DIRECT_ITEM)
    bucket = next(iter(provision.bucket_names(lab3.context())))  # the learner's, not yet given to the app
    lab3.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    with lab3.running():
        steps = {s.id: s for s in lab3.grade().steps}
    assert "has no bucket set yet" in steps["3.3"].message
    assert steps["3.6"].message == ("The app has no photo bucket set, so it cannot add employees with photos: "
                                    "finish step 3.3 first.")
