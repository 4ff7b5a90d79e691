"""The guard that keeps grading from changing the account it grades."""

from __future__ import annotations

from bootcamp.errors import ReadOnlyViolation

READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Simulate", "Scan", "Query",
                 "BatchGet", "Search")


def is_read(operation: str, params: dict) -> bool:
    """A read, or a write asked only as a dry run (EC2 answers DryRunOperation, changes nothing)."""
    return operation.startswith(READ_PREFIXES) or params.get("DryRun") is True


def guard(client) -> None:
    """Refuse, before anything is sent, every call of this client that could write."""
    service = client.meta.service_model.service_name

    def refuse_writes(params, model, **_):
        if not is_read(model.name, params):
            raise ReadOnlyViolation(
                f"grading refused {service}:{model.name}: graders only read the account")

    client.meta.events.register("before-parameter-build", refuse_writes)
