"""Accounts apart, as on AWS: AssumeRole judged by the role's trust policy for every caller, another
account's bucket and topic by their policies, on top of an IAM user's own (bootcamp/sandbox/access.py)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from bootcamp import approle
from bootcamp.errors import SandboxError
from bootcamp.sandbox import control
from conftest import an_image, another_account

REGION = "us-west-2"
ROOT_SECRET = control.SECRET


def client(settings, service: str, key: tuple[str, ...] | None = None):
    """A plain boto3 client: the account's root, or the given (key, secret[, token])."""
    key_id, secret, *token = key or (settings.sandbox_account, ROOT_SECRET)
    return boto3.client(service, endpoint_url=control.endpoint(settings), region_name=REGION,
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        aws_session_token=token[0] if token else None)


def refusal(call) -> dict:
    with pytest.raises(ClientError) as refused:
        call()
    return {**refused.value.response["Error"], "status": refused.value.response["ResponseMetadata"]["HTTPStatusCode"]}


def user(settings, name: str, statements: list[dict] = ()) -> tuple[str, str]:
    """An IAM user of that account with these policy statements; its key and secret."""
    iam = client(settings, "iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": list(statements)}))
    made = iam.create_access_key(UserName=name)["AccessKey"]
    return made["AccessKeyId"], made["SecretAccessKey"]


def role(settings, name: str, trusted) -> str:
    """A role of that account whose trust policy names these principals; its ARN."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": trusted, "Action": "sts:AssumeRole"}]}
    return client(settings, "iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def assume(settings, role_arn: str, key=None, **extra):
    return client(settings, "sts", key).assume_role(RoleArn=role_arn, RoleSessionName="learner", **extra)["Credentials"]


def assume_refused(settings, role_arn: str, caller_arn: str, key=None) -> None:
    error = refusal(lambda: assume(settings, role_arn, key))
    assert (error["status"], error["Code"]) == (403, "AccessDenied")
    assert error["Message"] == f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


def root_arn(settings) -> str:
    return f"arn:aws:iam::{settings.sandbox_account}:root"


MAY_ASSUME = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}


def test_a_role_trusted_only_by_ec2_is_assumed_by_no_user_and_no_root(settings):
    """The course's app role: neither its account's root, nor a user allowed sts:AssumeRole, nor
    another account can get its keys; only EC2 (here, the sandbox for `app.run`) does."""
    other = another_account(settings)
    arn = role(settings, approle.ROLE, {"Service": "ec2.amazonaws.com"})
    assume_refused(settings, arn, root_arn(settings))
    key = user(settings, "admin", [MAY_ASSUME])
    assume_refused(settings, arn, f"arn:aws:iam::{settings.sandbox_account}:user/admin", key)
    assume_refused(other, arn, root_arn(other))
    nowhere = f"arn:aws:iam::{settings.sandbox_account}:role/NoSuchRole"
    assume_refused(settings, nowhere, root_arn(settings))
    keys = control.instance_keys(settings, settings.sandbox_account, approle.ROLE)  # as EC2 gets them
    session = client(settings, "sts", keys).get_caller_identity()["Arn"]
    assert session == f"arn:aws:sts::{settings.sandbox_account}:assumed-role/{approle.ROLE}/employee-directory"


def test_instance_keys_only_for_a_role_ec2_may_assume_signed_by_its_account(settings):
    other = another_account(settings)
    role(settings, "ForAccounts", {"AWS": settings.sandbox_account})
    with pytest.raises(SandboxError, match="does not trust ec2.amazonaws.com"):
        control.instance_keys(settings, settings.sandbox_account, "ForAccounts")
    role(settings, approle.ROLE, {"Service": "ec2.amazonaws.com"})
    with pytest.raises(SandboxError, match="not signed by account"):
        _signed_by_other(other, settings.sandbox_account)


def _signed_by_other(signer, account: str) -> None:
    """An instance-keys request for `account` signed by another account's root."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import urllib.error
    import urllib.request

    request = AWSRequest(method="POST", url=f"{control.endpoint(signer)}/_bootcamp/instance-keys",
                         data=json.dumps({"account": account, "role": approle.ROLE}).encode(),
                         headers={"Content-Type": "application/json", **control.control_headers(signer)})
    SigV4Auth(Credentials(signer.sandbox_account, ROOT_SECRET), "bootcamp", "us-east-1").add_auth(request)
    try:
        urllib.request.urlopen(urllib.request.Request(request.url, method="POST", data=request.body,
                                                      headers=dict(request.headers)), timeout=10)
    except urllib.error.HTTPError as exc:
        raise SandboxError(json.loads(exc.read())["error"]) from None


def test_cross_account_assume_role_needs_the_trust_policy_and_the_users_own_policy(settings):
    other, stranger = another_account(settings), another_account(settings)
    arn = role(other, "Shared", {"AWS": root_arn(settings)})
    assert assume(settings, arn)["AccessKeyId"].startswith("ASIA")  # the trusted account's root
    plain = user(settings, "plain")
    assume_refused(settings, arn, f"arn:aws:iam::{settings.sandbox_account}:user/plain", plain)
    allowed = user(settings, "allowed", [{**MAY_ASSUME, "Resource": arn}])
    keys = assume(settings, arn, allowed)
    caller = client(other, "sts", (keys["AccessKeyId"], keys["SecretAccessKey"], keys["SessionToken"]))
    assert caller.get_caller_identity()["Arn"] == f"arn:aws:sts::{other.sandbox_account}:assumed-role/Shared/learner"
    assume_refused(stranger, arn, root_arn(stranger))
    denied = user(settings, "denied", [{**MAY_ASSUME, "Resource": arn},
                                       {"Effect": "Deny", "Action": "sts:*", "Resource": "*"}])
    assume_refused(settings, arn, f"arn:aws:iam::{settings.sandbox_account}:user/denied", denied)


def photo_bucket(settings) -> str:
    """A bucket with the course's policy (lab 3.2): the app role of its own account may do anything."""
    s3 = client(settings, "s3")
    bucket = f"employee-photo-bucket-ap-{settings.sandbox_account[-4:]}{settings.sandbox_account[:4]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="photo.png", Body=b"png")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": approle.role_arn(settings.sandbox_account)}, "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}))
    return bucket


def s3_refused(call) -> None:
    error = refusal(call)
    assert (error["status"], error["Code"], error["Message"]) == (403, "AccessDenied", "Access Denied")


def test_another_accounts_bucket_is_refused_unless_its_policy_grants_the_caller(settings):
    owner, s3 = another_account(settings), client(settings, "s3")
    bucket = photo_bucket(owner)
    client(owner, "iam").create_role(RoleName=approle.ROLE, AssumeRolePolicyDocument=json.dumps(approle.EC2_TRUST))
    client(owner, "iam").put_role_policy(RoleName=approle.ROLE, PolicyName=approle.POLICY,
                                         PolicyDocument=json.dumps(approle.permissions(owner.sandbox_account)))
    s3_refused(lambda: s3.get_object(Bucket=bucket, Key="photo.png"))
    s3_refused(lambda: s3.put_object(Bucket=bucket, Key="intruder.png", Body=b"x"))
    s3_refused(lambda: s3.list_objects_v2(Bucket=bucket))
    app = client(owner, "s3", control.instance_keys(owner, owner.sandbox_account, approle.ROLE))
    assert app.get_object(Bucket=bucket, Key="photo.png")["Body"].read() == b"png"  # the course's grant
    assert [o["Key"] for o in client(owner, "s3").list_objects_v2(Bucket=bucket)["Contents"]] == ["photo.png"]

    policy = json.loads(client(owner, "s3").get_bucket_policy(Bucket=bucket)["Policy"])
    policy["Statement"].append({"Effect": "Allow", "Principal": {"AWS": settings.sandbox_account},
                                "Action": ["s3:GetObject", "s3:ListBucket"],
                                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]})
    client(owner, "s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert s3.get_object(Bucket=bucket, Key="photo.png")["Body"].read() == b"png"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["photo.png"]
    s3_refused(lambda: s3.put_object(Bucket=bucket, Key="intruder.png", Body=b"x"))  # not granted
    plain = client(settings, "s3", user(settings, "plain"))
    s3_refused(lambda: plain.get_object(Bucket=bucket, Key="photo.png"))  # its own policies allow nothing
    reader = client(settings, "s3", user(settings, "reader", [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]))
    assert reader.get_object(Bucket=bucket, Key="photo.png")["Body"].read() == b"png"


def test_another_accounts_topic_is_refused_unless_its_policy_grants_the_caller(settings):
    owner, sns = another_account(settings), client(settings, "sns")
    topic = client(owner, "sns").create_topic(Name="alerts")["TopicArn"]
    error = refusal(lambda: sns.publish(TopicArn=topic, Message="hi"))
    assert (error["status"], error["Code"]) == (403, "AuthorizationError")
    assert error["Message"] == (f"User: {root_arn(settings)} is not authorized to perform: SNS:Publish on resource: "
                                f"{topic} because no resource-based policy allows the SNS:Publish action")
    assert refusal(lambda: sns.set_topic_attributes(TopicArn=topic, AttributeName="DisplayName",
                                                    AttributeValue="x"))["Code"] == "AuthorizationError"
    assert client(owner, "sns").publish(TopicArn=topic, Message="mine")["MessageId"]  # its own account's root
    policy = json.loads(client(owner, "sns").get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    policy["Statement"].append({"Effect": "Allow", "Principal": {"AWS": root_arn(settings)},
                                "Action": "SNS:Publish", "Resource": topic})
    client(owner, "sns").set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    assert sns.publish(TopicArn=topic, Message="granted")["MessageId"]
    plain = client(settings, "sns", user(settings, "plain"))
    assert refusal(lambda: plain.publish(TopicArn=topic, Message="hi"))["Code"] in ("AccessDenied", "AuthorizationError")


# --- what every account has alike is held once, and stays apart (bootcamp/sandbox/shared.py) ----

def test_a_public_ami_changed_in_one_account_is_unchanged_in_another(settings):
    other = another_account(settings)
    ec2, theirs = client(settings, "ec2"), client(other, "ec2")
    image = an_image(ec2)
    ami = image["ImageId"]
    assert theirs.describe_images(ImageIds=[ami])["Images"] == [image]  # one set, the same ids
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": other.sandbox_account}]})
    ec2.create_tags(Resources=[ami], Tags=[{"Key": "seen", "Value": "yes"}])
    ec2.disable_image(ImageId=ami)
    mine = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert mine["State"] == "disabled" and mine["Tags"] == [{"Key": "seen", "Value": "yes"}]
    assert theirs.describe_images(ImageIds=[ami])["Images"] == [image]
    permissions = theirs.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"]
    assert {"UserId": other.sandbox_account} not in permissions


def test_an_aws_managed_policy_attached_in_one_account_is_not_in_another(settings):
    other = another_account(settings)
    arn = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    iam = client(settings, "iam")
    iam.create_user(UserName="reader")
    iam.attach_user_policy(UserName="reader", PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    assert client(other, "iam").get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    only_attached = client(other, "iam").list_policies(Scope="AWS", OnlyAttached=True)["Policies"]
    assert only_attached == []
    iam.detach_user_policy(UserName="reader", PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
