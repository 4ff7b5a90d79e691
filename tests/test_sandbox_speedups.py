"""The sandbox's speed-ups change no answer: the same calls get the same bytes with and without them.

A second sandbox runs with `--no-speedups` (moto's own routing, handler and per-request work);
both get the same calls in an account of the same number (new on both), and each answer's status, headers and
body must match once what differs between any two servers is masked: request ids, dates and the
ids moto draws at random (VPCs, IAM users).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import boto3
import pytest
from botocore.config import Config

from bootcamp.sandbox import control

from conftest import ROOT

VOLATILE_HEADERS = {"x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "date", "last-modified",
                    "x-amz-crc32", "server",
                    "content-length", "x-amzn-crc32",  # of a body whose dates differ: the bodies are compared
                    "connection"}  # kept open by the speed-ups: the one intended difference
MASKS = [  # (pattern, stand-in): what differs between two servers for the same calls
    (re.compile(rb"<(requestId|RequestId)>[^<]*</\1>"), rb"<\1>?</\1>"),
    (re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"), b"DATE"),
    (re.compile(rb"\b((?:[a-z]+-)+)[0-9a-f]{8,17}\b"), rb"\1ID"),  # vpc-..., vpc-cidr-assoc-...
    (re.compile(rb"<UserId>[^<]*</UserId>"), b"<UserId>ID</UserId>"),
    (re.compile(rb'"(CreationDateTime|LastUpdateToPayPerRequestDateTime)": ?[0-9.e+]+'), rb'"\1": 0'),
]

def _masked(body: bytes) -> bytes:
    for pattern, stand_in in MASKS:
        body = pattern.sub(stand_in, body)
    return body


@pytest.fixture(scope="module")
def plain_port():
    """A sandbox without its speed-ups, on a free port, for this module."""
    port = control.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bootcamp.sandbox.server", "--no-speedups", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while control._health(port) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "the --no-speedups sandbox did not start"
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _answers(port: int, account: str) -> list[tuple]:
    """The same calls as a learner's lab would make them; each answer's status, headers and body."""
    seen: list[tuple] = []

    def keep(http_response, model, **_):
        headers = {k.lower(): v for k, v in http_response.headers.items() if k.lower() not in VOLATILE_HEADERS}
        seen.append((model.name, http_response.status_code, headers, _masked(http_response.content)))

    def client(service):
        made = boto3.client(service, endpoint_url=f"http://{control.HOST}:{port}", region_name="us-east-1",
                            aws_access_key_id=account, aws_secret_access_key=control.SECRET,
                            config=Config(retries={"max_attempts": 1}))
        made.meta.events.register("after-call", keep)
        return made

    s3, ec2, iam, ddb = client("s3"), client("ec2"), client("iam"), client("dynamodb")
    s3.create_bucket(Bucket="same-bytes")
    s3.put_object(Bucket="same-bytes", Key="dir/a b.txt", Body=b"hello", ContentType="text/plain",
                  Metadata={"my_key": "v"})
    s3.head_bucket(Bucket="same-bytes")
    s3.get_object(Bucket="same-bytes", Key="dir/a b.txt")
    s3.head_object(Bucket="same-bytes", Key="dir/a b.txt")
    s3.list_objects_v2(Bucket="same-bytes", Prefix="dir/")
    s3.list_buckets()
    for wrong in (lambda: s3.get_object(Bucket="same-bytes", Key="missing"),
                  lambda: s3.head_bucket(Bucket="no-such-bucket-here")):
        with pytest.raises(Exception):
            wrong()
    ec2.describe_vpcs()
    for wrong in (lambda: ec2.describe_vpcs(VpcIds=["vpc-0123456789abcdef0"]),  # moto raises AWS errors
                  lambda: iam.get_user(UserName="nobody"),                       # as werkzeug exceptions
                  lambda: ddb.describe_table(TableName="none")):
        with pytest.raises(Exception):
            wrong()
    iam.create_user(UserName="same-bytes")
    iam.list_users()
    ddb.create_table(TableName="same", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="same", Item={"id": {"S": "1"}, "n": {"N": "2"}})
    ddb.scan(TableName="same")
    return seen


def test_speedups_answer_the_same_bytes(settings, plain_port):
    account = settings.sandbox_account  # fresh on both servers
    fast, plain = _answers(settings.sandbox_port, account), _answers(plain_port, account)
    assert [a[0] for a in fast] == [a[0] for a in plain]
    for got, wanted in zip(fast, plain):
        assert got == wanted, got[0]
