"""What start, solve and clean share: tags, idempotent creation, the lab's local state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import botocore.exceptions as bx

from bootcamp.errors import BootcampError
from bootcamp.labmodel import Lab
from bootcamp.state import LabState
from bootcamp.targets import Target

TAG_LAB = "bootcamp:lab"
TAG_OWNER = "bootcamp:owner"
AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
GONE = ("terminated", "shutting-down")


def tag_value(resource: dict, key: str) -> str:
    """A tag's value on an EC2-style resource description ('' when it has none)."""
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == key), "")


def name_of(resource: dict) -> str:
    return tag_value(resource, "Name")


def error_code(exc: bx.ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def tolerate(call: Callable, *codes: str):
    """Run an AWS call; an error whose code is listed means the work is already done."""
    try:
        return call()
    except bx.ClientError as exc:
        if error_code(exc) in codes:
            return None
        raise


@dataclass
class Context:
    """Everything a lab's start/solve/clean needs; it changes the account, graders never do."""

    lab: Lab
    target: Target
    owner: str
    home: object
    log: Callable[[str], None] = print
    done: list[str] = field(default_factory=list)

    def client(self, service: str):
        return self.target.client(service)

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def account(self) -> str:
        return self.target.account_id

    @property
    def state(self) -> LabState:
        return LabState(self.home, self.target.name, self.account, self.lab.id)

    @property
    def tags(self) -> dict[str, str]:
        return {TAG_LAB: self.lab.id, TAG_OWNER: self.owner}

    def tag_list(self, **extra: str) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in {**self.tags, **extra}.items()]

    def tag_specs(self, *resource_types: str, **extra: str) -> list[dict]:
        return [{"ResourceType": t, "Tags": self.tag_list(**extra)} for t in resource_types]

    def tag_filters(self) -> list[dict]:
        return [{"Name": f"tag:{k}", "Values": [v]} for k, v in self.tags.items()]

    def is_ours(self, tags: list[dict] | None) -> bool:
        found = {t["Key"]: t["Value"] for t in tags or ()}
        return found.get(TAG_LAB) == self.lab.id

    def did(self, what: str) -> None:
        self.done.append(what)
        self.log(f"  {what}")

    def al2023_ami(self) -> str:
        param = self.client("ssm").get_parameter(Name=AL2023_PARAMETER)
        return param["Parameter"]["Value"]

    def lab_instances(self) -> list[dict]:
        pages = self.client("ec2").get_paginator("describe_instances").paginate(Filters=self.tag_filters())
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]
                if i["State"]["Name"] not in GONE]

    def refuse_foreign(self, kind: str, name: str, tags: list[dict] | None = None) -> None:
        other = {t["Key"]: t["Value"] for t in tags or ()}.get(TAG_LAB)
        if other:
            raise BootcampError(
                f"{kind} {name} in account {self.account} belongs to lab {other}, and lab {self.lab.id} "
                f"makes its own: run `invoke lab.clean {other}` first, or use another account")
        raise BootcampError(
            f"{kind} {name} already exists in account {self.account} and was not made by lab "
            f"{self.lab.id}: rename or remove it, or use another account")
