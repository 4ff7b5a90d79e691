"""How one account's backends of one moto service become bytes and come back (see `store`).

A moto backend is a tree of plain Python objects, so pickle keeps it whole, with three cuts:

- a reference to any moto backend (its own, or another service's: an Auto Scaling backend
  holds the EC2 backend of its account and region) is written as the backend's name,
  (service, account, region), and read back as the one live backend of that name, so each
  service is stored alone and the cross-service links survive a restore;
- an AWS managed policy (about a thousand in every account's IAM, 4 MB) is written as its
  ARN and attachment count and read back as a copy of moto's own policy, shared by value
  across accounts: AWS gives these one id everywhere, so they are no account's own state;
- a defaultdict whose default is a lambda (moto's SSM tags) is written with an equivalent
  default pickle can name, and a defaultdict subclass (SSM's ParameterDict) without calling
  its __init__;
- a lock (SQS queues have one) is written as its kind and read back new and free;
- the ~1,300 public AMIs moto gives every account's EC2 in each region, and the snapshot each
  has (1.2 of an account's 1.3 MB), are written as their ids while unchanged and read back as
  copies of one pristine EC2 backend's per region, made once per process.
"""

from __future__ import annotations

import functools
import io
import json
import pickle
import threading
from collections import defaultdict

from moto.core.base_backend import BackendDict, BaseBackend

PROTOCOL = 5
# Locks and their kin are made anew, free: no request is in flight when a state is read back.
FRESH = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock,
         threading.Condition: threading.Condition, threading.Event: threading.Event,
         threading.Semaphore: threading.Semaphore}


def _copy(obj):
    """A shallow copy made without calling the class: moto's models record every instance they make
    (BaseModel.__new__), which for the thousands of copies below costs most of a restore."""
    made = object.__new__(type(obj))
    made.__dict__.update(obj.__dict__)
    return made


def backend_names() -> dict[int, tuple[str, str, str]]:
    """id(backend) -> (service, account, region) for every backend now alive."""
    names = {}
    for services in list(BackendDict._instances):
        for account, regions in list(services.items()):
            for region, backend in list(regions.items()):
                names[id(backend)] = (services.service_name, account, region)
    return names


@functools.cache
def aws_managed_policies() -> dict[str, object]:
    """moto's AWS managed policies by ARN, made once per process."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy

    data = json.loads(aws_managed_policies_data)
    policies = [AWSManagedPolicy.from_data(name, "aws", "us-east-1", d) for name, d in data.items()]
    return {p.arn: p for p in policies}


def aws_managed_policy(arn: str, account: str, attachments: int):
    """A copy of an AWS managed policy for one account; its documents are shared, as AWS never changes
    them for an account (it refuses new versions and tags on AWS managed policies)."""
    policy = _copy(aws_managed_policies()[arn])
    policy.account_id, policy.attachment_count = account, attachments
    policy.versions, policy.tags = list(policy.versions), {}
    return policy


def share_aws_managed_policies() -> None:
    """Give each account's IAM copies of one set of AWS managed policies instead of a set of its own.

    moto parses its ~1,300 AWS managed policies anew for every account's IAM: about 9 MB per
    account, most of it the same documents. Copies sharing them cost a small part of that.
    """
    from moto.iam.models import IAMBackend

    make = IAMBackend._init_aws_policies
    if getattr(make, "shared", False):
        return

    def _init_aws_policies(self):
        if self.partition != "aws":
            return make(self)
        made = make.__globals__["load_iam_aws_managed_policies"]()
        return [aws_managed_policy(arn, self.account_id, 0) for arn in aws_managed_policies()] if made else []

    _init_aws_policies.shared = True
    IAMBackend._init_aws_policies = _init_aws_policies


@functools.cache
def pristine_ec2(region: str):
    """An EC2 backend of no account, as moto makes one: the source of the public AMIs' copies."""
    from moto.ec2.models import EC2Backend

    backend = EC2Backend(region, "000000000000")
    snapshots = {snap.from_ami: snap for snap in backend.snapshots.values() if snap.from_ami}
    return backend.amis, snapshots


# What moto's API can change in a public AMI or its snapshot (ModifyImageAttribute,
# ModifySnapshotAttribute, ...); the rest is set when moto makes them and never changes.
_AMI_CHANGES = ("launch_permissions", "description", "name", "state", "instance_id")
_SNAPSHOT_CHANGES = ("create_volume_permission_groups", "create_volume_permission_userids", "description",
                     "status", "encrypted", "owner_id")


def _unchanged(obj, pristine, changes: tuple[str, ...]) -> bool:
    mine, theirs = obj.__dict__, pristine.__dict__
    return len(mine) == len(theirs) and all(mine.get(k) == theirs.get(k) for k in changes)


def public_ami(region: str, ami_id: str, backend, snapshot, created):
    ami = _copy(pristine_ec2(region)[0][ami_id])
    ami.ec2_backend, ami.ebs_snapshot, ami.creation_date = backend, snapshot, created
    ami.launch_permissions = [dict(p) for p in ami.launch_permissions]
    ami.product_codes = set(ami.product_codes)
    return ami


def public_snapshot(region: str, ami_id: str, backend, snapshot_id: str, volume_id: str, times):
    snapshot = _copy(pristine_ec2(region)[1][ami_id])
    volume = _copy(snapshot.volume)
    snapshot.ec2_backend, snapshot.id, snapshot.volume, snapshot.start_time = backend, snapshot_id, volume, times[0]
    volume.ec2_backend, volume.id, volume.create_time = backend, volume_id, times[1]
    snapshot.create_volume_permission_groups = set(snapshot.create_volume_permission_groups)
    snapshot.create_volume_permission_userids = set(snapshot.create_volume_permission_userids)
    return snapshot


def _default_of(factory):
    """A default pickle can name that makes what a lambda default makes (dict, list, nested defaultdict)."""
    made = factory()
    if isinstance(made, defaultdict):
        return functools.partial(defaultdict, _default_of(made.default_factory))
    if type(made) in (dict, list, set, int, str):
        return type(made)
    raise pickle.PicklingError(f"cannot store a defaultdict whose default makes {type(made).__name__}")


def _named_defaultdict(factory, items, cls=defaultdict, attrs=None):
    made = cls.__new__(cls)
    defaultdict.__init__(made, factory)
    if attrs:
        made.__dict__.update(attrs)
    made.update(items)
    return made


class _Writer(pickle.Pickler):
    def __init__(self, out, names: dict[int, tuple[str, str, str]]):
        super().__init__(out, protocol=PROTOCOL)
        self.names = names

    def reducer_override(self, obj):  # pickle skips it for str, int, list, dict, ...: the bulk
        if isinstance(obj, BaseBackend):
            name = self.names.get(id(obj))
            if name is None:
                raise pickle.PicklingError(f"a {type(obj).__name__} that is no live backend")
            return backend_named, name
        if type(obj) in FRESH:
            return FRESH[type(obj)], ()
        kind = type(obj).__name__
        if kind == "Ami" and type(obj).__module__ == "moto.ec2.models.amis":
            region = obj.ec2_backend.region_name
            pristine = pristine_ec2(region)[0].get(obj.id)
            if pristine is not None and _unchanged(obj, pristine, _AMI_CHANGES):
                return public_ami, (region, obj.id, obj.ec2_backend, obj.ebs_snapshot, obj.creation_date)
        if kind == "Snapshot" and getattr(obj, "from_ami", None) and obj.volume is not None:
            region = obj.ec2_backend.region_name
            pristine = pristine_ec2(region)[1].get(obj.from_ami)
            if pristine is not None and _unchanged(obj, pristine, _SNAPSHOT_CHANGES):
                return public_snapshot, (region, obj.from_ami, obj.ec2_backend, obj.id, obj.volume.id,
                                         (obj.start_time, obj.volume.create_time))
        if kind == "AWSManagedPolicy" and obj.arn in aws_managed_policies():
            return aws_managed_policy, (obj.arn, obj.account_id, obj.attachment_count)
        if isinstance(obj, defaultdict):
            factory = obj.default_factory
            if getattr(factory, "__name__", "") == "<lambda>":
                factory = _default_of(factory)
            if type(obj) is not defaultdict:  # a subclass whose __init__ pickle cannot call (SSM's ParameterDict)
                return _named_defaultdict, (factory, dict(obj), type(obj), obj.__dict__)
            if factory is not obj.default_factory:
                return _named_defaultdict, (factory, dict(obj))
        return NotImplemented


_reading = threading.local()


def backend_named(service: str, account: str, region: str):
    """The backend a stored reference names, as the `load` in progress in this thread resolves it."""
    return _reading.backend_named(service, account, region)


def dump(services: dict[str, dict[str, BaseBackend]], names: dict[int, tuple[str, str, str]]) -> bytes:
    """One account's backends of some services, {service: {region: backend}}, as bytes.

    Each backend is written as its class and its attributes, so that loading can fill the
    very object other backends already point to.
    """
    out = io.BytesIO()
    _Writer(out, names).dump({service: {region: (type(b), b.__dict__) for region, b in regions.items()}
                              for service, regions in services.items()})
    return out.getvalue()


def load(data: bytes, resolve) -> dict[str, dict[str, tuple[type, dict]]]:
    """{service: {region: (class, attributes)}} from `dump`'s bytes; resolve(service,
    account, region) gives the object a reference names."""
    _reading.backend_named = resolve
    try:
        return pickle.loads(data)
    finally:
        _reading.backend_named = None
