"""The warm grader: a second `invoke lab.grade` is run by a fork of a loaded process, says exactly what a
grade run on its own says, and never runs code older than the project's files; it ends when told."""

from __future__ import annotations

import json
import os
import time

import pytest

from bootcamp import warm
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from conftest import LabDriver, run_invoke, sandbox_env


def until(done, what: str, seconds: float = 60):
    """Wait for a background process to get somewhere (no figure is judged: only that it gets there)."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.1)


def grader_pid(home) -> int | None:
    try:
        pid = int((warm.folder(home) / "grader.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def served(home) -> list[str]:
    log = warm.folder(home) / "warm.log"
    return [line for line in log.read_text().splitlines() if " runs " in line] if log.exists() else []


@pytest.fixture(scope="module")
def own_sandbox(tmp_path_factory):
    """A home with a sandbox of its own (the warm grader is one per home), stopped at the end."""
    settings = Settings.from_env(env={}, home=tmp_path_factory.mktemp("home"), sandbox_port=control.free_port())
    control.up(settings, env={"BOOTCAMP_SANDBOX_STATE": "off"})
    yield settings
    warm.stop(settings.home)
    control.down(settings)


_learners = iter(range(1, 100))


@pytest.fixture
def own_home(own_sandbox):
    """A fresh account of that sandbox (up again after a test's sandbox.down), and no warm grader yet."""
    control.up(own_sandbox, env={"BOOTCAMP_SANDBOX_STATE": "off"})
    warm.stop(own_sandbox.home)
    until(lambda: grader_pid(own_sandbox.home) is None, "the previous test's grader to end")
    (warm.folder(own_sandbox.home) / "graded").unlink(missing_ok=True)
    (warm.folder(own_sandbox.home) / "warm.log").unlink(missing_ok=True)
    return own_sandbox.but(sandbox_account=f"4242420000{next(_learners):02d}", owner="tester")


def test_a_second_grade_is_run_warm_and_says_what_a_grade_on_its_own_says(own_home, tmp_path):
    LabDriver("1", own_home).run("start")
    env = sandbox_env(own_home)
    # The first grade in a new Python process, as a learner's is (the tests' others are forks of one loaded invoke).
    cold = run_invoke("lab.grade", "1", "--json", str(tmp_path / "cold.json"), env=env, fresh=True)
    assert cold.returncode == 1 and not warm.socket_path(own_home.home).exists()  # one grade: no grader yet
    assert run_invoke("lab.grade", "1", env=env).returncode == 1  # a second: this home grades again
    until(lambda: warm.socket_path(own_home.home).exists(), "the warm grader to listen")
    assert not served(own_home.home)
    again = run_invoke("lab.grade", "1", "--json", str(tmp_path / "warm.json"), env=env)
    assert len(served(own_home.home)) == 1, "the second grade was not run by the warm grader"
    assert (again.returncode, again.stdout, again.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    judged = [[(s["id"], s["status"], s["hint"]) for s in json.loads((tmp_path / f"{n}.json").read_text())["steps"]]
              for n in ("cold", "warm")]
    assert judged[0] == judged[1]
    korean = run_invoke("lab.grade", "1", env={**env, "BOOTCAMP_LANG": "ko"})  # each grade its own environment
    assert len(served(own_home.home)) == 2 and "아직 완료되지 않음" in korean.stdout

    LabDriver("1", own_home).run("solve")
    solved = run_invoke("lab.grade", "1", env=env)
    assert solved.returncode == 0 and len(served(own_home.home)) == 3
    wrong = run_invoke("lab.grade", "9", env=env)  # bad input through the warm grader: the same one line
    assert wrong.returncode != 0 and wrong.stderr.strip().startswith("error: unknown lab '9'")
    assert "Traceback" not in wrong.stderr

    pid = grader_pid(own_home.home)
    assert pid and run_invoke("sandbox.down", env=env).returncode == 0
    until(lambda: grader_pid(own_home.home) is None, "sandbox.down to stop the warm grader")
    assert not warm.socket_path(own_home.home).exists()


def test_a_grader_older_than_the_project_is_never_used(own_home, monkeypatch):
    LabDriver("1", own_home).run("start")
    warm.start(own_home.home)
    until(lambda: warm.socket_path(own_home.home).exists(), "the warm grader to listen")
    monkeypatch.setattr(warm, "fingerprint", lambda: "a-changed-file")  # what an edit or an install does
    assert warm.hand_over(own_home.home) is None  # so the grade runs in its own process
    until(lambda: grader_pid(own_home.home) is None, "the stale grader to leave")
    assert not served(own_home.home)


def test_an_idle_grader_leaves_and_bad_input_starts_none(tmp_path):
    home = tmp_path / "home"
    refused = run_invoke("lab.grade", "9", env={"BOOTCAMP_HOME": str(home)})
    assert refused.returncode != 0 and not warm.folder(home).exists()  # refused before anything is started
    os.environ["BOOTCAMP_WARM_IDLE"] = "0.5"
    try:
        warm.start(home)
    finally:
        del os.environ["BOOTCAMP_WARM_IDLE"]
    until(lambda: "idle for 0.5 s, leaving" in (warm.folder(home) / "warm.log").read_text(), "the grader to leave")
    until(lambda: grader_pid(home) is None, "the idle grader's process to end")
