"""Collection: what a lab's collector is given to read an account with, and nothing to write with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bootcamp.inventory import Inventory
from bootcamp.labmodel import Lab
from bootcamp.state import LabState
from bootcamp.targets import Target


@dataclass
class Reader:
    """Read-only clients for one account; every client refuses writes before they are sent."""

    target: Target
    state: dict
    home: Path | None = None  # where this machine keeps the learner's files (none in class grading)

    def client(self, service: str):
        return self.target.client(service, readonly_guard=True)

    def client_as(self, service: str, key: dict):
        return self.target.client_as(service, key["id"], key["secret"], readonly_guard=True)


def collect(lab: Lab, target: Target, home: Path) -> Inventory:
    """Read everything the lab's graders judge, once."""
    state = LabState(home, target.name, target.account_id, lab.id).load()
    inventory = lab.collect.collect(Reader(target, state, home))
    inventory.meta.update(lab=lab.id, target=target.name, account=target.account_id,
                          region=target.region)
    return inventory
