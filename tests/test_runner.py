"""graders.runner: the graders run without a pytest session, and anything beyond it is left to pytest."""

import importlib.util
import textwrap

import pytest

from bootcamp.inventory import Inventory
from bootcamp.labmodel import all_labs
from graders import runner
from graders.plugin import Judgement

LABS = list(all_labs().values())

PLAIN = """
import pytest
from graders.plugin import fail, note

@pytest.fixture
def iam(inventory):
    return inventory["iam"]

@pytest.fixture
def group(iam):
    note("no_user", user="in-setup")  # dropped when the setup passes, kept when it fails, as the plugin does
    if not iam:
        fail("no_group", group="G")
    yield iam
"""

BEYOND = {
    "another marker": "@pytest.mark.skip\n@pytest.mark.step('1.1')\ndef test_x(iam):\n    pass\n",
    "a fixture with params": "@pytest.fixture(params=[1, 2])\ndef two(inventory):\n    return 2\n",
    "a module-scoped fixture": "@pytest.fixture(scope='module')\ndef shared(inventory):\n    return 1\n",
    "pytest's own fixture": "@pytest.fixture\ndef mine(tmp_path):\n    return tmp_path\n",
    "a test class": "class TestX:\n    def test_x(self):\n        pass\n",
    "a module mark": "pytestmark = pytest.mark.filterwarnings('ignore')\n",
    "an unknown argument": "@pytest.mark.step('1.1')\ndef test_x(monkeypatch):\n    pass\n",
}


def module_of(tmp_path, source: str, name: str = "grader_under_test"):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: f"lab{lab.id}")
def test_every_lab_runs_without_a_session_with_a_grader_per_step_in_order(lab):
    graders, _ = runner.load(lab)
    assert [g.step for g in graders] == [s.id for s in lab.steps]


@pytest.mark.parametrize("extra", BEYOND, ids=list(BEYOND))
def test_a_grader_beyond_the_runner_is_left_to_a_pytest_session(tmp_path, extra):
    assert runner.plan(module_of(tmp_path, PLAIN)) is not None
    assert runner.plan(module_of(tmp_path, PLAIN + "\n" + BEYOND[extra])) is None


def test_setup_failures_notes_and_unjudgeable_kinds_are_recorded_as_the_plugin_does(tmp_path):
    module = module_of(tmp_path, PLAIN + textwrap.dedent("""
        @pytest.mark.step("1.1")
        def test_group(group):
            note("no_user", user="in-test")

        @pytest.mark.step("1.2")
        def test_no_inventory_no_record():
            pass
    """))
    lab = LABS[0]
    subjects = {"ok": Inventory({"iam": {"x": 1}}), "empty": Inventory({"iam": {}}),
                "unread": Inventory(errors={"iam": "access denied: the grading identity needs iam:GetX"})}
    judgement = Judgement(lab, subjects)
    runner.run(judgement, *runner.plan(module))
    results = {subject: {s.id: s for s in steps} for subject, steps in judgement.results().items()}
    assert (results["ok"]["1.1"].status, results["ok"]["1.1"].notes) == ("PASS", [lab.step("1.1").message("no_user", user="in-test")])
    failed_setup = results["empty"]["1.1"]  # the notes of a setup that fails are kept with its failure
    assert (failed_setup.status, failed_setup.notes) == ("FAIL", [lab.step("1.1").message("no_user", user="in-setup")])
    assert results["unread"]["1.1"].status == "ERROR" and "iam:GetX" in results["unread"]["1.1"].message
    assert results["ok"]["1.2"].message == "no grader ran for this step"
