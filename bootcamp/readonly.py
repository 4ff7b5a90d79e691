"""The guard that keeps grading from changing the account it grades, and a record of what it reads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from bootcamp.errors import ReadOnlyViolation

READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Simulate", "Scan", "Query",
                 "BatchGet", "Search")

# IAM's service prefix where it is not botocore's service name.
IAM_PREFIX = {"elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing",
              "efs": "elasticfilesystem", "stepfunctions": "states", "sesv2": "ses",
              "dynamodbstreams": "dynamodb"}
# IAM's action where it is not the API operation's name (None: no permission is needed).
IAM_ACTION = {
    ("s3", "ListBuckets"): "ListAllMyBuckets",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "ListMultipartUploads"): "ListBucketMultipartUploads",
    ("s3", "ListParts"): "ListMultipartUploadParts",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "GetBucketCors"): "GetBucketCORS",
    ("s3", "GetPublicAccessBlock"): "GetBucketPublicAccessBlock",
    ("s3", "GetBucketEncryption"): "GetEncryptionConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "GetLifecycleConfiguration",
    ("s3", "GetBucketReplication"): "GetReplicationConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "GetBucketNotification",
    ("s3", "GetBucketAccelerateConfiguration"): "GetAccelerateConfiguration",
    ("s3", "GetObjectLockConfiguration"): "GetBucketObjectLockConfiguration",
    ("sts", "GetCallerIdentity"): None,
}


# Named like reads, but each hands out credentials: not a read of the account.
NOT_READS = {("sts", "GetSessionToken"), ("sts", "GetFederationToken")}
# The writes a grader may ask as a dry run (EC2 then answers DryRunOperation or
# UnauthorizedOperation and changes nothing): lab 1's step 1.4 asks whether a user may stop
# the instance. Any other dry run is refused, so a target that ignores DryRun changes nothing.
DRY_RUNS = {("ec2", "StopInstances")}


def is_read(service: str, operation: str, params: dict) -> bool:
    """A read, or one of the writes graders ask only as a dry run (DRY_RUNS)."""
    if (service, operation) in NOT_READS:
        return False
    if operation.startswith(READ_PREFIXES):
        return True
    return params.get("DryRun") is True and (service, operation) in DRY_RUNS


def iam_action(service: str, operation: str) -> str | None:
    """The IAM action a call needs ("elbv2", "DescribeLoadBalancers" -> "elasticloadbalancing:...")."""
    name = IAM_ACTION.get((service, operation), operation)
    return f"{IAM_PREFIX.get(service, service)}:{name}" if name else None


ACTION_KEY = "BootcampIamAction"  # where a guarded client notes, in an error, the IAM action asked


@dataclass(frozen=True)
class Call:
    service: str  # botocore's name, e.g. "elbv2"
    operation: str  # botocore's name, e.g. "DescribeLoadBalancers"
    borrowed: bool  # signed with other credentials (Target.client_as), not the grading identity's

    @property
    def action(self) -> str | None:
        return iam_action(self.service, self.operation)


class Recording:
    """The calls guarded clients sent while it was on; shared safely by threads given its context."""

    def __init__(self):
        self._lock = threading.Lock()
        self._calls: set[Call] = set()

    def add(self, call: Call) -> None:
        with self._lock:
            self._calls.add(call)

    @property
    def calls(self) -> set[Call]:
        with self._lock:
            return set(self._calls)

    def actions(self, borrowed: bool = False) -> set[str]:
        """The IAM actions the grading identity needed (with borrowed=True, also other identities')."""
        return {c.action for c in self.calls if c.action and (borrowed or not c.borrowed)}


_RECORDING: ContextVar[Recording | None] = ContextVar("bootcamp_readonly_recording", default=None)


@contextmanager
def recording() -> Iterator[Recording]:
    """Record every call guarded clients send in this context (and in threads run with a copy of it)."""
    record = Recording()
    token = _RECORDING.set(record)
    try:
        yield record
    finally:
        _RECORDING.reset(token)


def guard(client, borrowed: bool = False) -> None:
    """Refuse, before anything is sent, every call of this client that could write."""
    service = client.meta.service_model.service_name

    def refuse_writes(params, model, **_):
        if not is_read(service, model.name, params):
            raise ReadOnlyViolation(
                f"grading refused {service}:{model.name}: graders only read the account")
        record = _RECORDING.get()
        if record is not None:
            record.add(Call(service, model.name, borrowed))

    def name_the_action(http_response, parsed, model, **_):
        # A refusal does not always name the permission (S3 says "Access Denied", EC2 often only
        # "You are not authorized to perform this operation."): say which IAM action was asked.
        error = parsed.get("Error") if http_response is not None and http_response.status_code >= 300 else None
        if isinstance(error, dict):
            error.setdefault(ACTION_KEY, iam_action(service, model.name) or f"{service}:{model.name}")

    client.meta.events.register("before-parameter-build", refuse_writes)
    client.meta.events.register("after-call", name_the_action)


def asked_action(error: dict) -> str | None:
    """The IAM action a guarded client's refused call needed, as `guard` notes it in the error."""
    return error.get(ACTION_KEY)
