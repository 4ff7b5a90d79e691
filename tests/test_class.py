"""Class grading on the sandbox: a class of separate accounts, complete, partial, broken and
unreachable learners; every grade right, every output valid, shards merged equal one run."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from bootcamp.classroom import merge, roster, run
from bootcamp.redact import redact as strip_secrets
from bootcamp.errors import BootcampError
from bootcamp.labmodel import get_lab
from bootcamp.targets import make_target
from conftest import LabDriver, empty_account, run_invoke, sandbox_env

LAB2 = ["2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"]
# Gradescope's autograder results.json, as its documentation specifies the fields we write.
GRADESCOPE = {
    "type": "object", "required": ["tests"],
    "properties": {
        "score": {"type": "number"}, "max_score": {"type": "number"}, "output": {"type": "string"},
        "visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
        "stdout_visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
        "tests": {"type": "array", "items": {
            "type": "object", "required": ["score", "max_score", "name"],
            "properties": {"score": {"type": "number"}, "max_score": {"type": "number"},
                           "status": {"enum": ["passed", "failed"]}, "name": {"type": "string"},
                           "number": {"type": "string"}, "output": {"type": "string"},
                           "visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]}},
            "additionalProperties": False}},
    },
    "additionalProperties": False,
}


def revoke_http(lab):
    ec2 = lab.client("ec2")
    sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["Web Security Group"]}])
    ec2.revoke_security_group_ingress(GroupId=sg["SecurityGroups"][0]["GroupId"], IpProtocol="tcp",
                                      FromPort=80, ToPort=80, CidrIp="0.0.0.0/0")


def dns_off(lab):
    ec2 = lab.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["lab-2-vpc"]}])["Vpcs"][0]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": False})


# learner kind: (how the account is left, the steps expected to fail)
KINDS = {
    "complete": (lambda lab: lab.run("solve"), set()),
    "untouched": (lambda lab: None, set(LAB2)),
    "no http": (lambda lab: (lab.run("solve"), revoke_http(lab)), {"2.5", "2.7"}),  # the app is out of reach too
    "dns off": (lambda lab: (lab.run("solve"), dns_off(lab)), {"2.1"}),
}
CLASS_SIZE = 52


@pytest.fixture(scope="module")
def klass(sandbox, tmp_path_factory, worker_prefix):
    """52 learners in 52 sandbox accounts (13 of each kind), one unreachable, and bad roster rows."""
    expected, rows = {}, ["learner_id,name,sandbox_account,profile,role_arn,external_id"]
    for n in range(CLASS_SIZE):
        kind = list(KINDS)[n % len(KINDS)]
        account = f"8{worker_prefix}{n:07d}"
        lab = LabDriver("2", sandbox.but(sandbox_account=account, owner="learner"))
        lab.run("start")
        KINDS[kind][0](lab)
        learner = f"s{n:03d}"
        expected[learner] = KINDS[kind][1]
        rows.append(f"{learner},Learner {n} ({kind}),{account},,,")
    rows.append("gone,Unreachable Learner,,profile-nobody-has,,")
    rows.append("bad-row,Bad Row,,,arn:aws:iam::12:role/x,")
    rows.append("leaky,Leaky Learner,,,,AKIAIOSFODNN7EXAMPLE")
    path = tmp_path_factory.mktemp("class") / "class.csv"
    path.write_text("\n".join(rows) + "\n")
    yield {"roster": path, "expected": expected, "settings": sandbox}
    for n in range(CLASS_SIZE):
        empty_account(sandbox.but(sandbox_account=f"8{worker_prefix}{n:07d}"))


@pytest.fixture(scope="module")
def graded(klass, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    result = run.grade_class(get_lab("2"), roster.load(klass["roster"]), make_target(klass["settings"]), workers=4)
    merge.write(result, out)
    return result, out


def test_every_grade_is_right(klass, graded):
    result, _ = graded
    by_id = {g.learner.id: g for g in result.grades}
    assert len(by_id) == CLASS_SIZE + 1
    for learner, failing in klass["expected"].items():
        statuses = {s.id: s.status for s in by_id[learner].result.steps}
        assert {s for s, status in statuses.items() if status != "PASS"} == failing, learner
    gone = by_id["gone"]
    assert gone.status == "ERROR" and "profile-nobody-has" in gone.error
    assert all(s.status == "ERROR" for s in gone.result.steps)
    assert result.exit_code == 2


def test_bad_rows_are_reported_by_line_and_the_rest_graded(graded):
    result, out = graded
    problems = {p.line: p.message for p in result.problems}
    assert "not an IAM role ARN" in problems[CLASS_SIZE + 3]
    assert "looks like an AWS key" in problems[CLASS_SIZE + 4]
    summary = (out / "summary.md").read_text()
    assert f"line {CLASS_SIZE + 3} (bad-row)" in summary and "AKIA" not in summary


def test_gradebook_has_one_row_per_learner(klass, graded):
    _, out = graded
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert [r["learner_id"] for r in rows] == [*klass["expected"], "gone"]
    complete = rows[0]
    assert complete["status"] == "PASS" and complete["score"] == complete["max_score"] == "14"
    assert [complete[s] for s in LAB2] == ["2", "2", "1", "2", "2", "3", "2"]
    assert rows[-1]["status"] == "ERROR" and "not configured" in rows[-1]["error"]


def test_junit_has_a_suite_per_learner_and_a_case_per_step(graded):
    _, out = graded
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert len(suites) == CLASS_SIZE + 1
    untouched = next(s for s in suites if s.get("name") == "s001")
    assert len(untouched.findall("testcase")) == 7 and untouched.get("failures") == "7"
    assert next(s for s in suites if s.get("name") == "gone").get("errors") == "7"


def test_gradescope_results_match_the_schema(graded):
    _, out = graded
    files = sorted((out / "learners").glob("*/gradescope/results.json"))
    assert len(files) == CLASS_SIZE + 1
    for path in files:
        jsonschema.validate(json.loads(path.read_text()), GRADESCOPE)
    failing = json.loads((out / "learners" / "s002" / "gradescope" / "results.json").read_text())
    http = next(t for t in failing["tests"] if t["number"] == "2.5")
    # 2.5 and 2.7 lost (the app is out of reach through the edge too): 14 - 2 - 2
    assert http["status"] == "failed" and "TCP 80" in http["output"] and failing["score"] == 10


def test_html_report_shows_pass_rates_per_step(graded):
    _, out = graded
    html = (out / "report.html").read_text()
    row = html.split('<tr id="step-2.5"')[1].split("</tr>")[0]
    # 2.5 passes for the complete and dns-off quarters: 26 of 53 (the unreachable learner counts)
    assert '<td class="num">26</td>' in row and "49%" in row
    assert html.count('<tr id="learner-') == CLASS_SIZE + 1


def test_html_report_shows_reasons_run_and_who_never_started(graded):
    _, out = graded
    html = (out / "report.html").read_text()
    visible = re.sub(r'title="[^"]*"', "", html)  # a tooltip is not on the page, nor in print
    reasons = visible.split('<table id="reasons">')[1].split("</table>")[0]
    s002 = {row.split("<td>")[2].split("</td>")[0]: row for row in reasons.split("<tr") if "<td>s002</td>" in row}
    assert set(s002) == {"2.5", "2.7"} and "no inbound rule for TCP 80" in s002["2.5"]  # the app is out of reach too
    assert "<td>s001</td><td>all</td>" in reasons  # untouched: one line, not seven
    run_line = visible.split('<p id="run">')[1].split("</p>")[0]
    assert re.search(r"Graded <time>\d{4}-\d\d-\d\d \d\d:\d\d UTC</time> on target embedded, region us-west-2", run_line)
    assert "(13 not started)" in run_line
    learners = {row.split("</td>")[0].split(">")[-1]: row for row in visible.split('<tr id="learner-')[1:]}
    assert "not started" in learners["s001"] and "not started" not in learners["s002"]


def test_summary_marks_the_hardest_step_as_the_html_report_does(graded):
    _, out = graded
    html, summary = (out / "report.html").read_text(), (out / "summary.md").read_text()
    [hardest] = re.findall(r'<tr id="step-([\d.]+)" class="hardest">', html)
    bold = [line for line in summary.splitlines() if line.startswith("| **")]
    assert len(bold) == 1 and bold[0].startswith(f"| **{hardest}** |")
    assert re.search(r"^Graded .* on target embedded, region us-west-2\.$", summary, re.M)


def test_a_snapshot_regrades_offline_to_the_same_result(graded, tmp_path):
    result, out = graded
    snapshot = out / "learners" / "s002" / "snapshot.json"
    done = run_invoke("lab.grade", "2", "--from-snapshot", str(snapshot), "--json", str(tmp_path / "regraded.json"))
    assert done.returncode == 1, done.stderr
    regraded = json.loads((tmp_path / "regraded.json").read_text())
    original = json.loads((out / "learners" / "s002" / "grade.json").read_text())
    assert [s["status"] for s in regraded["steps"]] == [s["status"] for s in original["steps"]]


def comparable(folder: Path) -> dict:
    """The outputs minus what legitimately differs between runs (times, the shard label)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_dir():
            continue
        text = path.read_text()
        if path.name == "grade.json":
            data = json.loads(text)
            data.pop("started"), data.pop("finished")
            text = json.dumps(data, sort_keys=True)
        elif path.name == "class.json":
            data = json.loads(text)
            data.pop("shard")
            text = json.dumps(data, sort_keys=True)
        elif path.name in ("report.html", "summary.md"):  # when it was graded
            text = re.sub(r"<time>.*?</time>|^Graded \S+ \S+ UTC", "", text, flags=re.M)
        elif path.name == "junit.xml":
            root = ET.fromstring(text)
            for suite in root.iter("testsuite"):
                suite.attrib.pop("timestamp")
            text = ET.tostring(root, encoding="unicode")
        found[str(path.relative_to(folder))] = text
    return found


def test_sharding_then_merging_equals_one_unsharded_run(klass, graded, tmp_path):
    _, whole = graded
    lab, target, class_roster = get_lab("2"), make_target(klass["settings"]), roster.load(klass["roster"])
    for k in (1, 2, 3):
        part = class_roster.shard(k, 3)
        shard_result = run.grade_class(lab, part, target, workers=2)
        shard_result.shard = (k, 3)
        merge.write(shard_result, tmp_path / "parts" / f"part-{k}")
    merged = tmp_path / "merged"
    done = run_invoke("class.merge", str(tmp_path / "parts" / "part-*"), "--out", str(merged))
    assert done.returncode == 0, done.stdout + done.stderr
    assert comparable(merged) == comparable(whole)


def test_no_cross_talk_between_learners(klass, graded):
    """An untouched learner next to 13 complete ones still fails every step."""
    result, _ = graded
    untouched = next(g for g in result.grades if g.learner.id == "s001")
    complete = next(g for g in result.grades if g.learner.id == "s000")
    assert untouched.result.account != complete.result.account
    assert untouched.result.score == 0 and complete.result.passed


def test_class_grade_task_runs_a_shard_with_a_progress_bar_and_exit_code(klass, tmp_path):
    out = tmp_path / "part"
    done = run_invoke("class.grade", "--roster", str(klass["roster"]), "--lab", "2", "--shard", "2/20",
                      "--out", str(out), env=sandbox_env(klass["settings"]))
    assert done.returncode == 1, done.stdout + done.stderr  # s001 is untouched, s021 and s041 not finished
    assert "3 learners graded" in done.stdout
    assert [r["learner_id"] for r in csv.DictReader((out / "gradebook.csv").open())] == ["s001", "s021", "s041"]


@pytest.mark.parametrize("text, error", [
    ("", "is empty"),
    ("learner_id,name,aws_secret_access_key\na,b,c\n", "column for secrets"),
    ("name,profile\nx,y\n", "learner_id"),
    ("learner_id,nickname\nx,y\n", "unknown: nickname"),
])
def test_a_roster_that_cannot_be_read_is_one_line(text, error):
    with pytest.raises(BootcampError, match=error):
        roster.parse(text)


@pytest.mark.parametrize("row, message", [
    ("a,A,123456789012,dev,,", "exactly one of"),
    ("a,A,,,,", "exactly one of"),
    ("../x,A,123456789012,,,", "learner_id must be"),
    ("a,A,,,arn:aws:iam::123456789012:role/Grader,ext-id,extra", "more value(s)"),
    ("a,A,,dev,,some-external-id", "external_id only goes with role_arn"),
    ("a,A,,,,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "looks like an AWS key"),
])
def test_a_bad_row_is_a_problem_with_its_line(row, message):
    parsed = roster.parse("learner_id,name,sandbox_account,profile,role_arn,external_id\n"
                          "ok,Fine,123456789012,,,\n" + row + "\n")
    assert [x.id for x in parsed.learners] == ["ok"]
    [problem] = parsed.problems
    assert problem.line == 3 and message in problem.message


def test_a_duplicate_learner_is_refused_on_its_second_line():
    parsed = roster.parse("learner_id,sandbox_account\na,123456789012\na,123456789013\n")
    assert [p.line for p in parsed.problems] == [3] and "already on line 2" in parsed.problems[0].message


def test_shards_cover_every_row_exactly_once():
    text = "learner_id,sandbox_account\n" + "".join(f"l{n},{100000000000 + n}\n" for n in range(10)) + "bad,1\n"
    parsed = roster.parse(text)
    parts = [parsed.shard(k, 4) for k in range(1, 5)]
    assert sorted(x.id for p in parts for x in p.learners) == sorted(x.id for x in parsed.learners)
    assert sum(len(p.problems) for p in parts) == 1
    with pytest.raises(BootcampError, match="K/N"):
        roster.parse_shard("5/4")


def test_snapshots_carry_no_secrets():
    evidence = {"data": {"keys": {"SecretAccessKey": "abc", "id": "AKIAIOSFODNN7EXAMPLE"}, "password": "x"}}
    assert strip_secrets(evidence) == {"data": {"keys": {"SecretAccessKey": "<redacted>", "id": "<redacted>"},
                                                "password": "<redacted>"}}


def test_class_tasks_refuse_bad_input_in_one_line(settings, tmp_path):
    env = sandbox_env(settings)
    missing = run_invoke("class.grade", "--roster", str(tmp_path / "nope.csv"), "--lab", "2", "--out",
                         str(tmp_path / "out"), env=env)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().startswith("error: no roster at")
    bad_shard = run_invoke("class.grade", "--roster", str(tmp_path / "nope.csv"), "--lab", "2", "--out",
                           str(tmp_path / "out"), "--shard", "9/8", env=env)
    assert "--shard '9/8' is not K/N" in bad_shard.stderr
    nothing = run_invoke("class.merge", str(tmp_path / "part-*"), "--out", str(tmp_path / "merged"), env=env)
    assert nothing.returncode != 0 and "no class.grade output folders" in nothing.stderr
    roster_file = tmp_path / "class.csv"
    roster_file.write_text("learner_id,sandbox_account\na,123456789012\n")
    down = run_invoke("class.grade", "--roster", str(roster_file), "--lab", "2", "--out", str(tmp_path / "o"),
                      env={**env, "BOOTCAMP_SANDBOX_PORT": "1"})
    assert down.returncode != 0 and len(down.stderr.strip().splitlines()) == 1, down.stderr
