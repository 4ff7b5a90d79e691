"""How one account's backends of one moto service become bytes and come back (see `store`).

A moto backend is a tree of plain Python objects, so pickle keeps it whole, with three cuts:

- a reference to any moto backend (its own, or another service's: an Auto Scaling backend
  holds the EC2 backend of its account and region) is written as the backend's name,
  (service, account, region), and read back as the one live backend of that name, so each
  service is stored alone and the cross-service links survive a restore;
- an AWS managed policy (about a thousand in every account's IAM, 4 MB) is no account's own
  state (AWS gives these one id everywhere): the one set every account names (see `shared`) is
  written as ARNs; an account's copy (made when it attaches one) as its ARN and attachment
  count, read back as a copy sharing the documents;
- a defaultdict whose default is a lambda (moto's SSM tags) is written with an equivalent
  default pickle can name, and a defaultdict subclass (SSM's ParameterDict) without calling
  its __init__;
- a lock (SQS queues have one) is written as its kind and read back new and free;
- the ~1,300 public AMIs every account's EC2 names in each region, and the snapshot each has,
  are one set per region shared by every account (see `shared`): written as their region and
  id, read back as the shared objects. (A state written before they were shared holds copies,
  written as their ids while unchanged and read back as copies of the shared ones.)
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import io
import json
import pickle
import threading
from collections import defaultdict

from moto.core.base_backend import BackendDict, BaseBackend

PROTOCOL = 5
PRISTINE = "000000000000"  # the account of the backends the shared sets are made in (see `shared`)
UNDATED = datetime.datetime(2024, 1, 1)  # the creation date of a public AMI whose data has none
# Locks and their kin are made anew, free: no request is in flight when a state is read back.
FRESH = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock,
         threading.Condition: threading.Condition, threading.Event: threading.Event,
         threading.Semaphore: threading.Semaphore}


def is_shared(obj) -> bool:
    """Whether a public AMI or snapshot is one of the shared set's (see `shared`), not an account's copy."""
    backend = getattr(obj, "ec2_backend", None)
    return backend is not None and getattr(backend, "account_id", None) == PRISTINE


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


def shared_policy(arn: str):
    """The one AWS managed policy of that ARN every account's IAM names until it attaches it (see `shared`)."""
    return aws_managed_policies()[arn]


def aws_managed_policy(arn: str, account: str, attachments: int):
    """A copy of an AWS managed policy for one account; its documents are shared, as AWS never changes
    them for an account (it refuses new versions and tags on AWS managed policies)."""
    policy = _copy(aws_managed_policies()[arn])
    policy.account_id, policy.attachment_count = account, attachments
    policy.versions, policy.tags = list(policy.versions), {}
    return policy


@functools.cache
def pristine_ec2(region: str):
    """An EC2 backend of no account, as moto makes one: the source of the public AMIs' copies."""
    from moto.ec2.models import EC2Backend

    began = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    backend = EC2Backend(region, PRISTINE)
    for ami in backend.amis.values():  # moto dates an AMI its data does not date "now": one date, every process
        if ami.creation_date.replace(tzinfo=None) >= began:
            ami.creation_date = UNDATED
    snapshots = {snap.from_ami: snap for snap in backend.snapshots.values() if snap.from_ami}
    for ami_id, snap in snapshots.items():  # the same in every process, as AWS's are: a restore shows them alike
        digest = hashlib.sha256(f"{region}/{ami_id}".encode()).hexdigest()
        backend.snapshots.pop(snap.id, None)
        snap.id, snap.volume.id = f"snap-{digest[:17]}", f"vol-{digest[17:34]}"
        created = backend.amis[ami_id].creation_date
        snap.start_time = snap.volume.create_time = created.replace(tzinfo=None)
        backend.snapshots[snap.id] = snap
    return backend.amis, snapshots


# What moto's API can change in a public AMI or its snapshot (ModifyImageAttribute,
# ModifySnapshotAttribute, ...); the rest is set when moto makes them and never changes.
_AMI_CHANGES = ("launch_permissions", "description", "name", "state", "instance_id")
_SNAPSHOT_CHANGES = ("create_volume_permission_groups", "create_volume_permission_userids", "description",
                     "status", "encrypted", "owner_id")


def _unchanged(obj, pristine, changes: tuple[str, ...]) -> bool:
    mine, theirs = obj.__dict__, pristine.__dict__
    return len(mine) == len(theirs) and all(mine.get(k) == theirs.get(k) for k in changes)


def shared_ami(region: str, ami_id: str):
    """The one public AMI every account's EC2 in that region names (see `shared`)."""
    return pristine_ec2(region)[0][ami_id]


def shared_snapshot(region: str, ami_id: str):
    return pristine_ec2(region)[1][ami_id]


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
        if kind in ("Ami", "Snapshot") and is_shared(obj):
            region = obj.ec2_backend.region_name
            return (shared_ami, (region, obj.id)) if kind == "Ami" else (shared_snapshot, (region, obj.from_ami))
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
        if kind == "AWSManagedPolicy" and aws_managed_policies().get(obj.arn) is obj:
            return shared_policy, (obj.arn,)
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
