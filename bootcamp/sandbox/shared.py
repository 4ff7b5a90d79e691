"""What every account has alike is held once: the AWS managed policies, the public AMIs and their snapshots.

moto parses its ~1,300 AWS managed policies anew for every account's IAM (about 9 MB per account).
Here one set is made per process (`codec.aws_managed_policies`) and every account's IAM names it;
an account gets a copy of one of them (sharing its documents) when it attaches, detaches, tags
or versions it, as that changes the policy for that account alone.

moto gives each account's EC2, in each region, its own ~1,300 public AMIs, each with a snapshot
and a volume made for it (3.5 of the 3.8 MB of Python objects an account's first EC2 call costs,
13 MB of the process's memory). On AWS they are one set per region that every account sees, with
the same ids. Here each region's set is made once per process (`codec.pristine_ec2`) and every
account's EC2 holds references to it: an account's `amis` and `snapshots` dicts name the shared
objects, and the few calls that change a public AMI or snapshot for an account
(ModifyImageAttribute, Enable/DisableImage, CreateTags, Modify/ResetSnapshotAttribute,
ModifySnapshotTier) first give that account a copy of its own, so no change reaches another
account. `codec` stores a shared object as its region and id.
"""

from __future__ import annotations

import functools

from bootcamp.sandbox.codec import PRISTINE, is_shared


def _own_ami(backend, ami_id: str) -> None:
    from bootcamp.sandbox.codec import _copy

    ami = backend.amis.get(ami_id)
    if ami is not None and is_shared(ami):
        mine = _copy(ami)
        mine.ec2_backend = backend
        mine.launch_permissions = [dict(p) for p in ami.launch_permissions]
        mine.product_codes = set(ami.product_codes)
        backend.amis[ami_id] = mine


def _own_snapshot(backend, snapshot_id: str) -> None:
    from bootcamp.sandbox.codec import _copy

    snapshot = backend.snapshots.get(snapshot_id)
    if snapshot is not None and is_shared(snapshot):
        mine = _copy(snapshot)
        mine.ec2_backend = backend
        mine.create_volume_permission_groups = set(snapshot.create_volume_permission_groups)
        mine.create_volume_permission_userids = set(snapshot.create_volume_permission_userids)
        backend.snapshots[snapshot_id] = mine


def _owning(method, own, id_of):
    """A backend method that first makes the account's copy of the shared objects it changes."""

    @functools.wraps(method)
    def changed(self, *args, **kwargs):
        for resource_id in id_of(*args, **kwargs):
            own(self, resource_id)
        return method(self, *args, **kwargs)

    changed.owns_shared = True
    return changed


def _first(name: str):
    return lambda *args, **kwargs: [kwargs[name] if name in kwargs else args[0]]


def _own_policy(backend, arn: str):
    """The account's own copy of an AWS managed policy, made when it first changes it for itself."""
    from bootcamp.sandbox.codec import aws_managed_policies, aws_managed_policy

    policy = backend.managed_policies.get(arn)
    if policy is not None and aws_managed_policies().get(arn) is policy:
        mine = aws_managed_policy(arn, backend.account_id, policy.attachment_count)
        backend.managed_policies[arn] = mine
        backend.aws_managed_policies = [mine if p is policy else p for p in backend.aws_managed_policies]
        return mine
    return policy


def share_aws_managed_policies() -> None:
    """Every account's IAM names one set of AWS managed policies (see the docstring)."""
    from moto.iam.models import IAMBackend, ManagedPolicy, iam_backends

    make = IAMBackend._init_aws_policies
    if getattr(make, "shared", False):
        return

    def _init_aws_policies(self):
        if self.partition != "aws":
            return make(self)
        from bootcamp.sandbox.codec import aws_managed_policies

        return list(aws_managed_policies().values()) if make.__globals__["load_iam_aws_managed_policies"]() else []

    def _init_managed_policies(self):
        from bootcamp.sandbox.codec import aws_managed_policies

        names = aws_managed_policies()
        if self.aws_managed_policies and all(names.get(p.arn) is p for p in self.aws_managed_policies[:1]):
            return dict(names)  # its keys too are the shared set's
        return init(self)

    init = IAMBackend._init_managed_policies
    _init_aws_policies.shared = True
    IAMBackend._init_aws_policies = _init_aws_policies
    IAMBackend._init_managed_policies = _init_managed_policies
    attach = ManagedPolicy.attach_to

    def attach_to(self, obj):
        backend = dict.get(dict.get(iam_backends, obj.account_id) or {}, getattr(obj, "partition", "aws"))
        mine = _own_policy(backend, self.arn) if backend is not None else self
        return attach(mine if mine is not None else self, obj)

    ManagedPolicy.attach_to = attach_to
    for name in ("tag_policy", "untag_policy", "create_policy_version", "delete_policy_version",
                 "set_default_policy_version"):
        setattr(IAMBackend, name, _owning(getattr(IAMBackend, name), lambda b, arn: _own_policy(b, arn),
                                          _first("policy_arn")))


def share_public_images() -> None:
    """Every account's EC2 names one set of public AMIs and snapshots per region (see the docstring)."""
    from moto import settings
    from moto.ec2.models.amis import AmiBackend
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.models.tags import TagBackend

    load = AmiBackend._load_amis
    if getattr(load, "shared", False):
        return

    def _load_amis(self):
        import os

        if self.account_id == PRISTINE or "MOTO_AMIS_PATH" in os.environ or not settings.ec2_load_default_amis():
            return load(self)
        from bootcamp.sandbox.codec import pristine_ec2

        amis, snapshots = pristine_ec2(self.region_name)
        self.amis.update(amis)
        self.snapshots.update({s.id: s for s in snapshots.values()})

    _load_amis.shared = True
    AmiBackend._load_amis = _load_amis
    for name in ("modify_image_attribute", "disable_image", "enable_image"):
        setattr(AmiBackend, name, _owning(getattr(AmiBackend, name), _own_ami, _first("ami_id")))
    for name in ("add_create_volume_permission", "remove_create_volume_permission", "modify_snapshot_tier"):
        setattr(EBSBackend, name, _owning(getattr(EBSBackend, name), _own_snapshot, _first("snapshot_id")))

    def both(self, resource_id):
        _own_ami(self, resource_id)
        _own_snapshot(self, resource_id)

    TagBackend.create_tags = _owning(TagBackend.create_tags, both, lambda *a, **k: list(k.get("resource_ids", a[0] if a else [])))
