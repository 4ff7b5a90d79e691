"""A class rehearsed: two learner accounts with lab 1 solved on the aws target against the sandbox, each
with the grader role CloudFormation deployed, built once for this module (tests/scheduling.py keeps it
on one worker); the rest of the rehearsal tests are in test_rehearsal.py."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass

import pytest

from bootcamp import grading
from bootcamp.results import PASS
from bootcamp.settings import Settings
from conftest import LabDriver, another_account, run_invoke
from test_grader_role import TEMPLATE
from test_rehearsal import EXTERNAL_ID, aws_flags, rehearsal, rehearsal_env, services_called, simulations


# --- a learner's mistake, and a class graded through grader roles --------------------------------

@dataclass
class Learner:
    settings: Settings  # the account, as the embedded target sees it
    driver: LabDriver  # the same account on a rehearsal
    role_arn: str  # its grader role


@pytest.fixture(scope="module")
def rehearsed_class(sandbox, worker_prefix) -> tuple[Settings, list[Learner]]:
    """Two learner accounts with lab 1 solved on a rehearsal, the second with a Deny that keeps user-3 from
    stopping instances; each with the grader role deployed by CloudFormation for one instructor account."""
    base = sandbox.but(sandbox_account=f"{worker_prefix}55000000", owner="learner")
    instructor, *accounts = [another_account(base) for _ in range(3)]
    learners = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        for account in accounts:
            for name, value in rehearsal_env(account).items():
                monkeypatch.setenv(name, value)
            driver = LabDriver("1", rehearsal(account))
            driver.run("start")
            driver.run("solve")
            if learners:
                driver.client("iam").put_user_policy(UserName="user-3", PolicyName="NoStops", PolicyDocument=json.dumps(
                    {"Version": "2012-10-17", "Statement": [
                        {"Effect": "Deny", "Action": "ec2:StopInstances", "Resource": "*"}]}))
            role_arn = _deploy_grader_role(driver, instructor.sandbox_account)
            driver.grade()  # every client a grade uses is made while the environment names this account
            learners.append(Learner(account, driver, role_arn))
    return instructor, learners


def _deploy_grader_role(driver: LabDriver, instructor: str) -> str:
    cfn = driver.client("cloudformation")
    cfn.create_stack(StackName="bootcamp-grader", TemplateBody=TEMPLATE.read_text(), Capabilities=["CAPABILITY_NAMED_IAM"],
                     Parameters=[{"ParameterKey": "InstructorAccountId", "ParameterValue": instructor},
                                 {"ParameterKey": "ExternalId", "ParameterValue": EXTERNAL_ID}])
    [stack] = cfn.describe_stacks(StackName="bootcamp-grader")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["RoleArn"]


def test_a_learners_mistake_fails_the_same_step_on_both_targets(rehearsed_class, sandbox):
    _, learners = rehearsed_class
    for learner, mistakes in zip(learners, (set(), {"1.4"})):
        account, driver = learner.settings.sandbox_account, learner.driver
        before = simulations(sandbox, account)
        on_aws, inventory = grading.grade(driver.lab, driver.target, driver.settings.home)
        assert inventory["permissions"]["method"] == "simulate"
        assert simulations(sandbox, account) - before == 3  # one per user
        failing = {s.id for s in on_aws.steps if s.status != PASS}
        assert failing == LabDriver("1", learner.settings).failing() == mistakes


def test_class_grade_assumes_the_grader_roles_cloudformation_deployed(rehearsed_class, tmp_path, sandbox):
    instructor, learners = rehearsed_class
    roster = tmp_path / "class.csv"
    with roster.open("w", newline="") as out:
        rows = csv.writer(out)
        rows.writerow(["learner_id", "name", "role_arn", "external_id"])
        for n, learner in enumerate(learners, start=1):
            rows.writerow([f"l{n}", f"Learner {n}", learner.role_arn, EXTERNAL_ID])
    accounts = [x.settings.sandbox_account for x in learners]
    before = {a: simulations(sandbox, a) for a in accounts}
    done = run_invoke("class.grade", "--roster", str(roster), "--lab", "1", "--out", str(tmp_path / "out"),
                      *aws_flags(sandbox), env=rehearsal_env(instructor), timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr  # one learner has a step to fix
    with (tmp_path / "out" / "gradebook.csv").open() as book:
        status = {row["learner_id"]: row["status"] for row in csv.DictReader(book)}
    assert status == {"l1": "PASS", "l2": "FAIL"}
    graded = json.loads((tmp_path / "out" / "learners" / "l2" / "grade.json").read_text())
    assert [s["id"] for s in graded["steps"] if s["status"] != "PASS"] == ["1.4"]
    assert graded["target"] == "aws"
    assert all(simulations(sandbox, a) > before[a] for a in accounts), \
        "the roles' sessions asked the simulator in each learner's account"
    assert services_called(sandbox, instructor.sandbox_account) == {"sts"}, "the instructor only assumed roles"
