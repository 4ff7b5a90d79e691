"""The class-grading GitHub Actions workflow: valid, sharded 8 ways, uploads every shard, merges them,
and calls `invoke class.*` only with options those tasks take."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml
from invoke.parser import ParseError, Parser

from bootcamp.classroom.roster import parse_shard
from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "class-grade.yml"
# The options of the class tasks (the README's table); every one takes a value.
OPTIONS = {
    "class.grade": {"--roster", "--lab", "--out", "--shard", "--workers", "--target", "--region", "--lang"},
    "class.merge": {"--out"},
}
REQUIRED = {"class.grade": {"--roster", "--lab", "--out"}, "class.merge": {"--out"}}
CHOICES = {"--target": {"embedded", "localstack", "aws"}, "--lang": {"en", "ko"}}
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
SHELL_BREAKS = {"||", "&&", ";", "|", "&"}


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def using(workflow, job: str, action: str) -> list[dict]:
    return [s for s in steps(workflow, job) if s.get("uses", "").startswith(action + "@")]


def shell_words(line: str) -> list[str]:
    """The words the runner's shell passes to a command: an unquoted glob becomes several (shards)."""
    words = []
    for raw in shlex.split(line, comments=True, posix=False):
        if raw[:1] in "'\"":
            words.append(raw[1:-1])
        elif any(c in raw for c in "*?["):
            words += [raw.replace("*", "1", 1), raw.replace("*", "2", 1)]
        else:
            words.append(raw)
    return words


def invoke_lines(workflow) -> list[tuple[str, str, list[str]]]:
    """(job, the line, its words) for every `invoke class.*` command in the workflow's scripts."""
    found = []
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                words = shell_words(line)
                if words[:1] == ["invoke"] and words[1:2] and words[1].startswith("class."):
                    end = next((i for i, w in enumerate(words) if w in SHELL_BREAKS), len(words))
                    found.append((name, line, words[1:end]))
    return found


def test_it_is_a_manual_workflow_with_lab_and_roster_inputs(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["lab"]["default"] == "2" and inputs["roster"]["default"] == "roster.csv"
    assert workflow["permissions"] == {"id-token": "write", "contents": "read"}


def test_grading_is_sharded_eight_ways_with_oidc_credentials(workflow):
    grade = workflow["jobs"]["grade"]
    assert grade["strategy"]["matrix"]["shard"] == list(range(1, 9))
    assert grade["strategy"]["fail-fast"] is False
    [python] = using(workflow, "grade", "actions/setup-python")
    assert str(python["with"]["python-version"]) == "3.11"
    assert any(s.get("run", "").strip() == "pip install -e ." for s in steps(workflow, "grade"))
    [aws] = using(workflow, "grade", "aws-actions/configure-aws-credentials")
    assert aws["uses"].endswith("@v4")
    assert aws["with"]["role-to-assume"] == "${{ secrets.INSTRUCTOR_ROLE_ARN }}"
    assert "aws-access-key-id" not in aws["with"], "OIDC only: no stored keys"


def test_every_shard_uploads_its_grades_even_when_learners_fail(workflow):
    [upload] = using(workflow, "grade", "actions/upload-artifact")
    assert upload["if"] == "always()"
    assert upload["with"]["name"] == "part-${{ matrix.shard }}"
    assert upload["with"]["path"].rstrip("/") == "part-${{ matrix.shard }}"
    [(_, line, words)] = [x for x in invoke_lines(workflow) if x[0] == "grade"]
    assert "--target" in words and words[words.index("--target") + 1] == "aws"
    assert "--out" in words and words[words.index("--out") + 1] == "part-${{ matrix.shard }}"
    script = next(s["run"] for s in steps(workflow, "grade") if "invoke class.grade" in s.get("run", ""))
    assert "|| status=$?" in script, "class.grade exits 1 when a learner is not fully passing: keep going"


def test_the_merge_job_joins_every_shard_and_publishes_the_class(workflow):
    merge = workflow["jobs"]["merge"]
    assert merge["needs"] == "grade" and merge["if"] == "always()"
    [download] = using(workflow, "merge", "actions/download-artifact")
    assert download["with"]["pattern"] == "part-*"
    [(_, _, words)] = [x for x in invoke_lines(workflow) if x[0] == "merge"]
    assert words[0] == "class.merge" and words[words.index("--out") + 1] == "results"
    [upload] = using(workflow, "merge", "actions/upload-artifact")
    assert upload["with"]["path"].rstrip("/") == "results" and upload["if"] == "always()"
    [junit] = using(workflow, "merge", "mikepenz/action-junit-report")
    assert junit["with"]["report_paths"] == "results/junit.xml"
    assert merge["permissions"]["checks"] == "write"
    assert any("results/summary.md" in s.get("run", "") and "$GITHUB_STEP_SUMMARY" in s["run"]
               for s in steps(workflow, "merge"))


def test_invoke_lines_use_only_the_class_tasks_options(workflow):
    lines = invoke_lines(workflow)
    assert {words[0] for _, _, words in lines} == {"class.grade", "class.merge"}
    shards = workflow["jobs"]["grade"]["strategy"]["matrix"]["shard"]
    for _, line, words in lines:
        task, rest = words[0], words[1:]
        assert task in OPTIONS, line
        flags = [w for w in rest if w.startswith("-")]
        assert set(flags) <= OPTIONS[task], f"{line}: unknown option {sorted(set(flags) - OPTIONS[task])}"
        assert REQUIRED[task] <= set(flags), f"{line}: missing {sorted(REQUIRED[task] - set(flags))}"
        assert len(flags) == len(set(flags)), f"{line}: an option given twice"
        values = {flag: rest[rest.index(flag) + 1] for flag in flags}
        assert all(not v.startswith("-") for v in values.values()), line
        for flag, allowed in CHOICES.items():
            assert flag not in values or values[flag] in allowed, line
        if "--shard" in values:
            for k in shards:
                assert parse_shard(values["--shard"].replace("${{ matrix.shard }}", str(k))) == (k, len(shards))


def test_invoke_lines_parse_with_the_real_tasks(workflow):
    """invoke's own parser, over the project's tasks, accepts each line as the runner's shell passes it."""
    from tasks import namespace

    parser = Parser(contexts=namespace.to_contexts())
    for _, line, words in invoke_lines(workflow):
        argv = [EXPRESSION.sub(lambda m: "1" if m.group(1) == "matrix.shard" else "x", w) for w in words]
        try:
            [parsed] = parser.parse_argv(argv)
        except (ParseError, ValueError) as exc:
            pytest.fail(f"`{line.strip()}` does not parse as invoke would: {exc}")
        assert parsed.name == words[0]
