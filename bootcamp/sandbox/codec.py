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
- a lock (SQS queues have one) is written as its kind and read back new and free.
"""

from __future__ import annotations

import copy
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
    """A copy of an AWS managed policy for one account (its versions are shared, never changed)."""
    policy = copy.copy(aws_managed_policies()[arn])
    policy.account_id, policy.attachment_count = account, attachments
    return policy


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

    def persistent_id(self, obj):
        if isinstance(obj, BaseBackend):
            name = self.names.get(id(obj))
            if name is None:
                raise pickle.PicklingError(f"a {type(obj).__name__} that is no live backend")
            return ("backend", *name)
        return None

    def reducer_override(self, obj):
        if type(obj) in FRESH:
            return FRESH[type(obj)], ()
        kind = type(obj).__name__
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


class _Reader(pickle.Unpickler):
    def __init__(self, data: bytes, backend_named):
        super().__init__(io.BytesIO(data))
        self.backend_named = backend_named

    def persistent_load(self, pid):
        if pid[0] == "backend":
            return self.backend_named(*pid[1:])
        raise pickle.UnpicklingError(f"unknown reference {pid[0]!r}")


def dump(services: dict[str, dict[str, BaseBackend]], names: dict[int, tuple[str, str, str]]) -> bytes:
    """One account's backends of some services, {service: {region: backend}}, as bytes.

    Each backend is written as its class and its attributes, so that loading can fill the
    very object other backends already point to.
    """
    out = io.BytesIO()
    _Writer(out, names).dump({service: {region: (type(b), b.__dict__) for region, b in regions.items()}
                              for service, regions in services.items()})
    return out.getvalue()


def load(data: bytes, backend_named) -> dict[str, dict[str, tuple[type, dict]]]:
    """{service: {region: (class, attributes)}} from `dump`'s bytes; backend_named(service,
    account, region) gives the object a reference names."""
    return _Reader(data, backend_named).load()
