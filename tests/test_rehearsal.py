"""A rehearsal: `--target aws --endpoint-url URL` against the tests' sandbox runs the aws target's own
code paths (the credential chain, the prompt, the free-tier guard, waiters, SimulatePrincipalPolicy,
probes, the grader role deployed by CloudFormation and assumed by class.grade), not the embedded
target's. The AWS credentials are a sandbox account's root, given as the environment gives them."""

from __future__ import annotations

import csv
import json
import os
import pty
import select
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from bootcamp import grading
from bootcamp.errors import BootcampError
from bootcamp.labmodel import get_lab
from bootcamp.results import PASS
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.targets import make_target
from conftest import ROOT, LabDriver, another_account, run_invoke
from test_grader_role import TEMPLATE

EXTERNAL_ID = "bootcamp-rehearsal-5d1e"
REGION = "us-west-2"


def rehearsal_env(settings: Settings) -> dict[str, str]:
    """What an instructor's shell has for --target aws: credentials in the environment (here a sandbox
    account's root), no AWS config files of this machine's user."""
    return {"BOOTCAMP_HOME": str(settings.home), "BOOTCAMP_OWNER": settings.owner, "BOOTCAMP_RETRY_BACKOFF": "0",
            "AWS_ACCESS_KEY_ID": settings.sandbox_account, "AWS_SECRET_ACCESS_KEY": control.SECRET,
            "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


def rehearsal(settings: Settings) -> Settings:
    return settings.but(target="aws", endpoint_url=control.endpoint(settings), region=REGION, assume_yes=True)


def aws_flags(settings: Settings) -> list[str]:
    return ["--target", "aws", "--endpoint-url", control.endpoint(settings)]


def simulations(settings: Settings, account: str) -> int:
    return sum(r["requests"] for r in control.stats(settings)["iam_simulations"]
               if r["account"] == account and r["action"] == "SimulatePrincipalPolicy")


def services_called(settings: Settings, account: str) -> set[str]:
    return {r["service"] for r in control.stats(settings)["by_account_service"] if r["account"] == account}


@pytest.fixture
def as_instructor(monkeypatch):
    """This process's environment as rehearsal_env sets a shell's (the standard credential chain reads it)."""
    def use(settings: Settings) -> Settings:
        for name in [k for k in os.environ if k.startswith(("AWS_", "BOOTCAMP_"))]:
            monkeypatch.delenv(name)
        for name, value in rehearsal_env(settings).items():
            monkeypatch.setenv(name, value)
        return rehearsal(settings)
    return use


# --- lab.verify, as an instructor runs it before a class -----------------------------------------

@pytest.mark.parametrize("lab", ["1", "2", "3"])
def test_verify_passes_on_a_rehearsal(settings, lab):
    before = simulations(settings, settings.sandbox_account)
    done = run_invoke("lab.verify", lab, *aws_flags(settings), "--yes", env=rehearsal_env(settings), timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"lab {lab} verified on aws (account {settings.sandbox_account})" in done.stdout
    assert "(--yes given)" in done.stdout and f"A rehearsal: every call goes to {control.endpoint(settings)}" in done.stdout
    if lab == "1":  # 1.4 judged by the simulator, once per user and grade
        assert simulations(settings, settings.sandbox_account) - before == 6


def test_verify_of_lab4_on_a_rehearsal_fails_only_where_the_sandbox_cannot_serve_yet(settings):
    """4.7 wants the group's instances in two AZs and the app answering through the load balancer; the
    sandbox's Auto Scaling puts every instance in the first subnet and its balancers answer no HTTP yet."""
    done = run_invoke("lab.verify", "4", *aws_flags(settings), "--yes", env=rehearsal_env(settings), timeout=400)
    problems = done.stderr.split("verify failed:", 1)[-1].strip().splitlines()
    assert done.returncode == 1 and problems and all(p.strip().startswith("step 4.7 ") for p in problems), done.stderr
    assert "in us-west-2a" in problems[0] and "lab.clean" not in done.stderr


# --- the prompt and the free-tier guard -----------------------------------------------------------

def _answer_prompt(argv: list[str], env: dict, answer: str, seconds: float = 120) -> tuple[int, str]:
    """Run `invoke ARGV` on a terminal (a pty) and answer its question; (exit code, what it printed)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOOTCAMP_", "LOCALSTACK_"))}
    pid, fd = pty.fork()
    if pid == 0:  # the child: invoke, as typed in the project folder
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "invoke", *argv], {**base, **env, "COLUMNS": "200"})
    shown, answered, deadline = b"", False, time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if not answered and b"Continue? [y/N]" in shown:
            os.write(fd, answer.encode() + b"\n")
            answered = True
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


def test_the_account_prompt_and_the_free_tier_guard(settings):
    env = rehearsal_env(settings)
    refused = run_invoke("lab.start", "1", *aws_flags(settings), env=env)  # no terminal to ask on
    assert refused.returncode == 1 and "Run again with --yes to confirm" in refused.stderr
    assert f"AWS account {settings.sandbox_account}, region {REGION}" in refused.stderr
    code, shown = _answer_prompt(["lab.start", "1", *aws_flags(settings)], env, "n")
    assert code == 1 and "Continue? [y/N]" in shown and "nothing was created" in shown, shown
    assert services_called(settings, settings.sandbox_account) == {"sts"}, "asked who it is, and nothing else"

    target = make_target(rehearsal(settings))
    with pytest.raises(BootcampError, match="m5.large is outside the free tier"):
        target.check_instance_type("m5.large")


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


# --- the guide's AWS-only blocks ------------------------------------------------------------------

def test_the_aws_guide_of_lab1_runs_and_passes_on_a_rehearsal(settings, tmp_path, as_instructor):
    from bootcamp.guide import render_guide, runnable_blocks
    from bootcamp.guide_values import learner_values
    from test_guides import VENV_BIN
    import awscli_server

    rehearsed = as_instructor(settings)
    values, unknown = learner_values(rehearsed, get_lab("1"))
    assert unknown == "" and values["target"] == "aws" and values["account_id"] == settings.sandbox_account
    blocks = runnable_blocks(render_guide(get_lab("1"), "en", "md", values))
    # The learner answers lab.start's question on a terminal; this shell has none, so it says --yes.
    blocks = [b.replace("invoke lab.start 1", "invoke lab.start 1 --yes") for b in blocks]
    assert any("simulate-principal-policy" in b for b in blocks)
    with awscli_server.running(tmp_path) as aws:
        work = tmp_path / "work"
        (work / "bin").mkdir(parents=True)
        shim = work / "bin" / "invoke"
        shim.write_text(f'#!/bin/sh\nexec "{VENV_BIN / "invoke"}" --search-root "{ROOT}" "$@"\n')
        shim.chmod(0o755)
        (work / "bin" / "aws").symlink_to(aws)
        env = {**rehearsal_env(settings), "HOME": str(work), "LANG": "C.UTF-8", "AWS_EC2_METADATA_DISABLED": "true",
               "BOOTCAMP_ENDPOINT_URL": control.endpoint(settings), "AWS_ENDPOINT_URL": control.endpoint(settings),
               "PATH": os.pathsep.join([str(work / "bin"), str(VENV_BIN), "/usr/bin", "/bin"])}
        shell = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(blocks)], cwd=work, env=env,
                               capture_output=True, text=True, timeout=300)
    assert shell.returncode == 0, shell.stdout[-2000:] + shell.stderr[-2000:]
    said = " ".join(shell.stdout.split())
    assert "ec2:StopInstances allowed" in said and "ec2:DescribeInstances implicitDeny" in said
    result, _ = grading.grade(get_lab("1"), make_target(rehearsed), rehearsed.home)
    assert {s.id: s.status for s in result.steps} == {"1.1": PASS, "1.2": PASS, "1.3": PASS, "1.4": PASS}
