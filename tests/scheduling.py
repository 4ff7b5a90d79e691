"""How `pytest -n N --dist loadgroup` hands the tests to its workers: shared fixtures once, long work first.

pytest-xdist's own loadgroup reads a group from a suffix it appends to each test's node id; pytest
9.2 no longer takes that suffix (its node ids became structured), so every group was split across
the workers and the class of 52 and the grader-role recordings were each built on both of them.
Here the grouping is data the controller reads itself, and the order is chosen, not inherited:

- TOGETHER: the test modules whose tests share a module-scoped fixture; each module is one unit of
  work on one worker, so that fixture is built once per run. tests/test_convention.py fails when a
  module with such a fixture is missing here (or one without is listed).
- FIRST: the units that take longest, longest first. A worker that draws a long unit last keeps the
  run going while the others idle; handing them out first lets the short tests fill in behind.
  Everything else follows in xdist's own order (units of more tests first, then collection order).
"""

from __future__ import annotations

import os
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

TOGETHER = frozenset({
    "tests/test_class.py", "tests/test_dataplane.py", "tests/test_dataplane_balancer.py",
    "tests/test_dataplane_metrics.py", "tests/test_dataplane_scaling.py", "tests/test_grader_role.py",
    "tests/test_lab5.py", "tests/test_localstack.py", "tests/test_photos.py", "tests/test_rehearsal_class.py",
    "tests/test_sandbox_speedups.py",
    "tests/test_sandbox_state.py", "tests/test_userdata.py", "tests/test_warm.py", "tests/test_workflow.py",
})

# Node id prefixes of the longest units, longest first (CPU seconds on 2 cores, measured with a
# per-test profile of the whole suite).
FIRST = (
    "tests/test_class.py",
    "tests/test_grader_role.py",
    "tests/test_sandbox_state.py",
    "tests/test_dataplane_scaling.py",
    "tests/test_dataplane_metrics.py",
    "tests/test_guides.py::test_guide_commands_make_every_step_pass",
    "tests/test_rehearsal.py::test_the_aws_guide_runs_and_passes_on_a_rehearsal",
    "tests/test_dataplane.py",
)


# Where .ci/emulators installs the runtimes tests/test_localstack.py starts. CI installs them beside
# the project, so they may still be installing when the tests begin: that module is handed out only
# once no install is under way (or nothing else is left), so no worker sits waiting for one.
EMULATORS = Path(os.environ.get("BOOTCAMP_EMULATORS", Path.home() / ".cache/aws-bootcamp-labs/emulators"))
NEEDS_EMULATORS = "tests/test_localstack.py"


def waits_for_install(unit: str) -> bool:
    return unit == NEEDS_EMULATORS and any(EMULATORS.glob("*.installing"))


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its module when listed in TOGETHER, else itself."""
    module = nodeid.split("::", 1)[0]
    return module if module in TOGETHER else nodeid


def rank(unit: str) -> int:
    """Where a unit goes in the queue: the index of its FIRST prefix, or after all of them."""
    return next((i for i, prefix in enumerate(FIRST) if unit.startswith(prefix)), len(FIRST))


class GroupedScheduling(LoadScopeScheduling):
    """loadgroup's behaviour (a unit runs whole on one worker), with TOGETHER's units and FIRST's order."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _assign_work_unit(self, node) -> None:
        # The lowest rank goes first, a unit waiting for an install after the rest; ties keep the queue's order.
        unit = min(self.workqueue, key=lambda u: (waits_for_install(u), rank(u)))
        tests = self.workqueue.pop(unit)
        self.assigned_work.setdefault(node, {})[unit] = tests
        collected = self.registered_collections[node]
        node.send_runtest_some([collected.index(nodeid) for nodeid, done in tests.items() if not done])
