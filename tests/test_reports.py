"""What a grade writes: the documented JSON, JUnit XML, snapshots; and never a secret."""

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from rich.console import Console

from bootcamp import grading, report
from bootcamp.inventory import Inventory
from bootcamp.labmodel import get_lab
from bootcamp.results import GradeResult, StepResult
from bootcamp.state import LabState
from conftest import ROOT, run_invoke, sandbox_env

STEP_KEYS = {"id", "title", "status", "points", "max_points", "message", "hint", "notes"}


def test_json_follows_the_documented_schema(lab1, tmp_path):
    lab1.run("start")
    report.write_json(lab1.grade(), tmp_path / "grade.json")
    data = json.loads((tmp_path / "grade.json").read_text())
    assert data["schema"] == "aws-bootcamp-labs/grade/v1"
    assert {"lab", "title", "target", "account", "region", "started", "finished", "steps",
            "score", "max_score"} <= set(data)
    assert data["lab"] == "1" and data["target"] == "embedded"
    assert data["account"] == lab1.settings.sandbox_account
    assert datetime.fromisoformat(data["finished"]) >= datetime.fromisoformat(data["started"])
    assert [s["id"] for s in data["steps"]] == ["1.1", "1.2", "1.3", "1.4"]
    assert all(set(s) == STEP_KEYS for s in data["steps"])
    assert (data["score"], data["max_score"]) == (0, 10)


def test_junit_parses_with_one_testcase_per_step(lab1, tmp_path):
    lab1.run("start")
    lab1.client("iam").add_user_to_group(UserName="user-1", GroupName="S3-Support")
    report.write_junit([lab1.grade()], tmp_path / "grade.xml")
    root = ET.parse(tmp_path / "grade.xml").getroot()
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name").split()[0] for c in cases] == ["1.1", "1.2", "1.3", "1.4"]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "3", "0")
    assert cases[0].find("failure") is None
    assert "add-user-to-group" in cases[1].find("failure").text


def test_a_snapshot_regrades_offline_to_the_same_result(lab1):
    lab1.run("start")
    lab1.run("solve")
    result, inventory = grading.grade(lab1.lab, lab1.target, lab1.settings.home)
    saved = json.loads(json.dumps(inventory.to_dict()))
    again = grading.regrade(lab1.lab, Inventory.from_dict(saved))
    assert [(s.id, s.status) for s in again.steps] == [(s.id, s.status) for s in result.steps]


def test_grade_task_writes_reports_and_exits_by_result(settings, tmp_path):
    env = sandbox_env(settings)
    assert run_invoke("lab.start", "1", env=env).returncode == 0
    failing = run_invoke("lab.grade", "1", "--json", str(tmp_path / "g.json"), "--junit",
                         str(tmp_path / "g.xml"), "--snapshot", str(tmp_path / "snap.json"), env=env)
    assert failing.returncode == 1, failing.stderr
    assert "Score 0/10" in failing.stdout and "Hint:" in failing.stdout
    ET.parse(tmp_path / "g.xml")
    assert run_invoke("lab.solve", "1", env=env).returncode == 0
    passing = run_invoke("lab.grade", "1", env=env)
    assert passing.returncode == 0 and "Score 10/10" in passing.stdout
    offline = run_invoke("lab.grade", "1", "--from-snapshot", str(tmp_path / "snap.json"), env=env)
    assert offline.returncode == 1 and "Score 0/10" in offline.stdout
    secrets = LabState(settings.home, "embedded", settings.sandbox_account, "1").load()
    words = [p for p in secrets["passwords"].values()] + [k["secret"] for k in secrets["access_keys"].values()]
    written = "".join(p.read_text() for p in tmp_path.iterdir()) + failing.stdout + passing.stdout
    assert words and not [w for w in words if w in written]


def test_pytest_alone_grades_a_lab(settings, tmp_path):
    env = sandbox_env(settings)
    assert run_invoke("lab.start", "1", env=env).returncode == 0
    out = subprocess.run([sys.executable, "-m", "pytest", "graders", "--lab", "1", "--lab-json",
                          str(tmp_path / "g.json"), "-p", "no:cacheprovider"],
                         cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "4 failed" in out.stdout
    assert [s["status"] for s in json.loads((tmp_path / "g.json").read_text())["steps"]] == ["FAIL"] * 4


def every_hint(lab_id: str, lang: str) -> GradeResult:
    """A grade of lab N whose every step fails with its hint (as a fresh account's grade does)."""
    lab = get_lab(lab_id)
    steps = [StepResult(s.id, s.title(lang), "FAIL", 0, s.points, message=s.title(lang), hint=s.hint(lang))
             for s in lab.steps]
    return GradeResult(lab.id, lab.title(lang), "embedded", "123456789012", "us-west-2", "", "", steps)


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_grade_table_wraps_every_hint_and_never_cuts_one(lang, width):
    for lab_id in ("1", "2", "3", "4", "5"):
        result = every_hint(lab_id, lang)
        out = io.StringIO()
        report.table(result, Console(file=out, width=width, color_system=None))
        printed = out.getvalue()
        assert "…" not in printed, f"lab {lab_id} at {width} columns:\n{printed}"
        cells = "".join(line.replace("│", "").replace(" ", "") for line in printed.splitlines())
        for step in result.steps:
            assert step.hint.replace(" ", "") in cells, step.id  # every character of the hint, in order


def test_a_korean_grade_table_speaks_korean(lab2):
    lab2.run("start")
    out = io.StringIO()
    report.table(lab2.grade(lang="ko"), Console(file=out, width=100, color_system=None))
    printed = out.getvalue()
    assert all(word in printed for word in ("단계", "제목", "결과", "배점", "해야 할 일", "힌트:", "점수 0/14"))
    assert "Hint:" not in printed and "What to do" not in printed and "Score" not in printed
