"""A lab's graders run in-process without a pytest session: the same test functions, fixtures and markers.

A pytest session costs more than the judging (its configuration, some forty built-in plugins,
collection and assertion rewriting of the grader file), and `invoke lab.grade` pays it on every run.
The graders use a small part of pytest: function-scoped fixtures (plain or yield) built on
`inventory`, and the `step` marker. `plan` reads exactly that from the module; a grader that asks
for more (another marker, a fixture with params or another scope, a test class, a conftest.py)
makes it answer None, and grading.judge runs the pytest session instead. `pytest graders --lab N`
is unchanged. tests/conftest.py judges every lab test's grade both ways and compares.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from types import ModuleType

import pytest

from graders import plugin

INVENTORY = "inventory"  # the one fixture the judgement provides, per subject


@dataclass(frozen=True)
class Grader:
    step: str
    function: object
    arguments: tuple[str, ...]


def _arguments(function) -> tuple[str, ...] | None:
    """Names a test or fixture asks for; None for a signature pytest would read otherwise (defaults, *args)."""
    names = []
    for p in inspect.signature(function).parameters.values():
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) or p.default is not p.empty:
            return None
        names.append(p.name)
    return tuple(names)


def _fixtures(module: ModuleType) -> dict[str, tuple[object, tuple[str, ...]]] | None:
    """The module's fixtures by name (function and what it asks for); None if one is beyond this runner."""
    found = {}
    for value in vars(module).values():
        definition = getattr(value, "_fixture_function_marker", None)  # what @pytest.fixture made
        if definition is None:
            continue
        if (definition.scope != "function" or definition.params or definition.autouse or definition.name
                or not hasattr(value, "__wrapped__")):
            return None
        function = value.__wrapped__
        arguments = _arguments(function)
        if arguments is None or "request" in arguments:
            return None
        found[function.__name__] = (function, arguments)
    if INVENTORY in found or not all(a == INVENTORY or a in found for _, args in found.values() for a in args):
        return None  # a fixture asks for one of pytest's own, or of another plugin's
    return found


def plan(module: ModuleType) -> tuple[list[Grader], dict] | None:
    """The module's step graders in pytest's order and its fixtures, or None (run a pytest session)."""
    fixtures = _fixtures(module)
    if fixtures is None or getattr(module, "pytestmark", None):
        return None
    graders = []
    for name, value in vars(module).items():
        if name.startswith("Test") and inspect.isclass(value):
            return None
        if not (name.startswith("test") and inspect.isfunction(value)):
            continue
        marks = getattr(value, "pytestmark", [])
        arguments = _arguments(value)
        if arguments is None or any(m.name != "step" for m in marks):
            return None
        if not all(a == INVENTORY or a in fixtures for a in arguments):
            return None
        if marks and _needs_inventory(arguments, fixtures):  # as in pytest: only parametrized tests are recorded
            graders.append(Grader(str(marks[-1].args[0]), value, arguments))
    return graders, fixtures


def _needs_inventory(arguments, fixtures, seen=()) -> bool:
    for a in arguments:
        if a == INVENTORY or (a not in seen and _needs_inventory(fixtures[a][1], fixtures, (*seen, a))):
            return True
    return False


def load(lab) -> tuple[list[Grader], dict] | None:
    """plan() for a lab's grader module; None when pytest's own collection is needed."""
    folder = lab.grader_file.parent
    if (folder / "conftest.py").exists():
        return None
    module = importlib.import_module(lab.grader_module)
    if module.__file__ and inspect.getfile(module) != str(lab.grader_file):
        return None
    return plan(module)


def run(judgement: plugin.Judgement, graders: list[Grader], fixtures: dict) -> None:
    """Run every grader for every subject, recording outcomes as the pytest plugin does."""
    for grader in graders:
        for subject, inventory in enumerate(judgement.inventories):
            _run_one(judgement, grader, fixtures, subject, inventory)


def _run_one(judgement, grader: Grader, fixtures: dict, subject: int, inventory) -> None:
    values = {INVENTORY: inventory}
    finalizers = []

    def value(name: str):
        if name not in values:
            function, arguments = fixtures[name]
            made = function(**{a: value(a) for a in arguments})
            if inspect.isgenerator(made):
                finalizers.append(made)
                made = next(made)
            values[name] = made
        return values[name]

    try:
        try:
            kwargs = {a: value(a) for a in grader.arguments}
        except pytest.skip.Exception:
            return
        except (Exception, pytest.fail.Exception) as error:  # a setup failure is the step's outcome
            judgement.record(subject, grader.step, error)
            return
        finally:
            plugin.clear_notes()
        try:
            grader.function(**kwargs)
            error = None
        except (Exception, pytest.fail.Exception, pytest.skip.Exception) as exc:  # a skip here is recorded too
            error = exc
        judgement.record(subject, grader.step, error)
    finally:
        plugin.clear_notes()
        for generator in reversed(finalizers):  # teardown: its errors are not the step's, as in pytest
            try:
                next(generator, None)
            except Exception:
                pass
