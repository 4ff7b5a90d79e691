"""The graders' pytest plugin: options, the `step` marker, and one result collector.

Registered as a pytest11 entry point, so `pytest graders --lab 1` grades lab 1 on the
configured target; `invoke lab.grade 1` runs the same graders through `Judgement`.
A grader is a test marked `@pytest.mark.step("1.1")` that reads fixtures built on
`inventory` and calls `fail(...)` when the learner's work is wrong. It never calls AWS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bootcamp.inventory import Inventory, Unjudgeable
from bootcamp.results import ERROR, FAIL, PASS, StepResult, now, result_of


class StepFailed(Exception):
    """The learner's work is wrong; each problem is a message key of the step and its facts."""

    def __init__(self, problems: list[tuple[str, dict]]):
        super().__init__("; ".join(key for key, _ in problems))
        self.problems = problems


def fail(key: str, **facts) -> None:
    raise StepFailed([(key, facts)])


_notes: list[tuple[str, dict]] = []


def note(key: str, **facts) -> None:
    """Tell the learner something beside the verdict: a warning, or what could not be checked."""
    _notes.append((key, facts))


def clear_notes() -> None:
    _notes.clear()


class Problems:
    """Gathers every problem a step finds, so the learner sees them all at once."""

    def __init__(self):
        self.found: list[tuple[str, dict]] = []

    def add(self, key: str, **facts) -> None:
        self.found.append((key, facts))

    def check(self) -> None:
        if self.found:
            raise StepFailed(self.found)


class Judgement:
    """Feeds inventories to a lab's graders and records each step's outcome per subject."""

    def __init__(self, lab, inventories: dict[str, Inventory], lang: str = "en"):
        self.lab = lab
        self.subjects = list(inventories)
        self.inventories = list(inventories.values())
        self.lang = lang
        self.index = {id(inv): n for n, inv in enumerate(self.inventories)}
        self.outcomes: dict[tuple[int, str], StepResult] = {}

    def pytest_collection_modifyitems(self, config, items):
        keep = [i for i in items if Path(str(i.path)) == self.lab.grader_file]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep

    def pytest_generate_tests(self, metafunc):
        if "inventory" in metafunc.fixturenames:
            metafunc.parametrize("inventory", self.inventories,
                                 ids=[f"s{n}" for n in range(len(self.inventories))])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if call.when == "call" or (call.when == "setup" and report.failed):
            marker = item.get_closest_marker("step")
            if marker and hasattr(item, "callspec"):
                subject = self.index[id(item.callspec.params["inventory"])]
                self.record(subject, str(marker.args[0]), call.excinfo.value if call.excinfo else None)
        if call.when in ("setup", "call"):
            clear_notes()

    def record(self, subject: int, step_id: str, error: BaseException | None) -> None:
        """One grader's outcome for one subject, with the notes it made on the way."""
        result = self.outcome(step_id, error)
        step = self.lab.step(step_id)
        result.notes = [step.message(key, self.lang, **facts) for key, facts in _notes]
        self.outcomes[(subject, step_id)] = result

    def outcome(self, step_id: str, error: BaseException | None) -> StepResult:
        step = self.lab.step(step_id)
        result = StepResult(id=step.id, title=step.title(self.lang), status=PASS,
                            points=step.points, max_points=step.points)
        if error is None:
            return result
        result.points = 0
        if isinstance(error, StepFailed):
            result.status = FAIL
            result.message = " ".join(step.message(key, self.lang, **facts) for key, facts in error.problems)
            result.hint = step.hint(self.lang, **error.problems[0][1])
        elif isinstance(error, AssertionError):
            result.status = FAIL
            result.message = str(error).splitlines()[0] if str(error) else "check failed"
            result.hint = step.hint(self.lang)
        elif isinstance(error, Unjudgeable):
            result.status = ERROR
            result.message = f"could not be judged: {error}"
        else:
            result.status = ERROR
            result.message = f"grader error: {type(error).__name__}: {error}"
        return result

    def results(self) -> dict[str, list[StepResult]]:
        by_subject = {}
        for n, subject in enumerate(self.subjects):
            by_subject[subject] = [
                self.outcomes.get((n, step.id)) or StepResult(
                    id=step.id, title=step.title(self.lang), status=ERROR, points=0,
                    max_points=step.points, message="no grader ran for this step")
                for step in self.lab.steps]
        return by_subject


@pytest.fixture
def inventory():
    pytest.skip("graders judge a lab: run `pytest graders --lab N` or `invoke lab.grade N`")


def pytest_addoption(parser):
    group = parser.getgroup("bootcamp", "AWS Bootcamp Labs grading")
    group.addoption("--lab", help="grade this lab (1, 2, ...) with the graders collected")
    group.addoption("--lab-target", help="embedded, localstack or aws (default: BOOTCAMP_TARGET or embedded)")
    group.addoption("--lab-lang", help="language of titles and hints: en or ko")
    group.addoption("--lab-snapshot", help="judge this saved inventory (JSON) instead of reading an account")
    group.addoption("--lab-json", help="write the grade as JSON to this path")
    group.addoption("--lab-junit", help="write the grade as JUnit XML to this path")


def pytest_configure(config):
    config.addinivalue_line("markers", "step(id): the lab step this grader judges, e.g. step('1.1')")
    lab_id = config.getoption("--lab", None)
    if not lab_id or any(isinstance(p, Judgement) for p in config.pluginmanager.get_plugins()):
        return
    config.pluginmanager.register(StandaloneGrade(config, lab_id), "bootcamp-standalone-grade")


class StandaloneGrade:
    """`pytest graders --lab N`: collect from the target, judge, write the asked-for files."""

    def __init__(self, config, lab_id: str):
        from bootcamp.collect import collect
        from bootcamp.errors import BootcampError
        from bootcamp.labmodel import get_lab
        from bootcamp.settings import Settings
        from bootcamp.targets import make_target

        try:
            settings = Settings.from_env(target=config.getoption("--lab-target"),
                                         lang=config.getoption("--lab-lang"))
            self.lab = get_lab(lab_id)
            self.target = make_target(settings)
            snapshot = config.getoption("--lab-snapshot")
            if snapshot:
                inventory = Inventory.from_dict(json.loads(Path(snapshot).read_text()))
            else:
                self.target.check_ready(list(self.lab.services), list(self.lab.needs))
                inventory = collect(self.lab, self.target, settings.home)
        except BootcampError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.started = now()
        self.inventory = inventory
        self.judgement = Judgement(self.lab, {inventory.meta.get("account", ""): inventory}, settings.lang)
        config.pluginmanager.register(self.judgement, "bootcamp-judgement")
        self.config = config

    def pytest_sessionfinish(self, session):
        from bootcamp import report

        [steps] = self.judgement.results().values()
        result = result_of(self.lab, self.inventory, steps, self.started, self.judgement.lang)
        if self.config.getoption("--lab-json"):
            report.write_json(result, Path(self.config.getoption("--lab-json")))
        if self.config.getoption("--lab-junit"):
            report.write_junit([result], Path(self.config.getoption("--lab-junit")))
