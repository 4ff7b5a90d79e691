"""The suite's scheduling (tests/scheduling.py): shared fixtures on one worker, the longest units first."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

pytest.importorskip("xdist", reason="the scheduling is pytest-xdist's: pip install -e '.[test]'")
from scheduling import FIRST, TOGETHER, rank, unit_of, waits_for_install  # noqa: E402

SHARED_SCOPES = {"module", "package"}


def shared_fixtures(source: str) -> list[str]:
    """The fixtures a test module defines with a module or package scope."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and ast.unparse(deco.func) == "pytest.fixture" and any(
                        k.arg == "scope" and getattr(k.value, "value", None) in SHARED_SCOPES for k in deco.keywords):
                    found.append(node.name)
    return found


def test_every_module_with_a_shared_fixture_runs_on_one_worker_and_only_those():
    modules = {f"tests/{p.name}" for p in (ROOT / "tests").glob("test_*.py") if shared_fixtures(p.read_text())}
    assert modules == TOGETHER, "list in tests/scheduling.py TOGETHER exactly the modules with a module-scoped fixture"


def test_a_listed_module_is_one_unit_and_other_tests_are_their_own():
    assert unit_of("tests/test_class.py::test_every_grade_is_right") == "tests/test_class.py"
    assert unit_of("tests/test_class.py::test_a_bad_row[a,b]") == "tests/test_class.py"
    assert unit_of("tests/test_lab4.py::test_valid_variants_pass") == "tests/test_lab4.py::test_valid_variants_pass"


def test_the_longest_units_rank_first_in_their_listed_order():
    assert [rank(prefix) for prefix in FIRST] == list(range(len(FIRST)))
    assert rank("tests/test_guides.py::test_guide_commands_make_every_step_pass[lab3]") < len(FIRST)
    assert rank("tests/test_lab1.py::test_solved") == len(FIRST)


def test_the_emulator_tests_wait_while_an_install_is_under_way(tmp_path, monkeypatch):
    import scheduling

    monkeypatch.setattr(scheduling, "EMULATORS", tmp_path)
    assert not waits_for_install("tests/test_localstack.py")
    (tmp_path / "localstack.installing").write_text("1")
    assert waits_for_install("tests/test_localstack.py") and not waits_for_install("tests/test_lab1.py::test_solved")


def test_loadgroup_runs_each_listed_module_on_a_single_worker():
    """A real `-n 2 --dist loadgroup` run of two listed modules: each module's tests on one worker."""
    modules = ["tests/test_workflow.py", "tests/test_userdata.py"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v",
                           "-k", "not invoke", *modules], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    workers: dict[str, set[str]] = {}
    for worker, module in re.findall(r"^\[(gw\d+)\].* PASSED (tests/test_\w+\.py)::", done.stdout, re.M):
        workers.setdefault(module, set()).add(worker)
    assert set(workers) == set(modules), done.stdout[-3000:]
    assert all(len(ran_on) == 1 for ran_on in workers.values()), workers
