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


def is_read(operation: str, params: dict) -> bool:
    """A read, or a write asked only as a dry run (EC2 answers DryRunOperation, changes nothing)."""
    return operation.startswith(READ_PREFIXES) or params.get("DryRun") is True


def iam_action(service: str, operation: str) -> str | None:
    """The IAM action a call needs ("elbv2", "DescribeLoadBalancers" -> "elasticloadbalancing:...")."""
    name = IAM_ACTION.get((service, operation), operation)
    return f"{IAM_PREFIX.get(service, service)}:{name}" if name else None


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
        if not is_read(model.name, params):
            raise ReadOnlyViolation(
                f"grading refused {service}:{model.name}: graders only read the account")
        record = _RECORDING.get()
        if record is not None:
            record.add(Call(service, model.name, borrowed))

    client.meta.events.register("before-parameter-build", refuse_writes)
