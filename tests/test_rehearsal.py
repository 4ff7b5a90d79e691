"""A rehearsal: `--target aws --endpoint-url URL` against the tests' sandbox runs the aws target's own
code paths (the credential chain, the prompt, the free-tier guard, waiters, SimulatePrincipalPolicy,
probes, the grader role deployed by CloudFormation and assumed by class.grade), not the embedded
target's. The AWS credentials are a sandbox account's root, given as the environment gives them."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from bootcamp.errors import BootcampError
from bootcamp.labmodel import get_lab
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.targets import make_target
from conftest import ROOT, LabDriver, run_invoke
from test_bad_input import _in_process

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

@pytest.mark.parametrize("lab, how", [("1", "cli"), ("2", ""), ("3", ""), ("4", "")])
def test_verify_passes_on_a_rehearsal(settings, lab, how, monkeypatch, capsys):
    """Lab 1 through a real `invoke` process; 2 to 4 through invoke's Program in this process (the same
    parser, wrapper and task, without a Python start-up each). Lab 4's 4.7 asks the load balancer through
    the sandbox's edge, as it asks an ALB on AWS."""
    before = simulations(settings, settings.sandbox_account)
    argv = ["lab.verify", lab, *aws_flags(settings), "--yes"]
    if how == "cli":
        done = run_invoke(*argv, env=rehearsal_env(settings), timeout=300)
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        code, out, err = _in_process(argv, rehearsal_env(settings), monkeypatch, capsys)
    assert code == 0, out[-3000:] + err[-2000:]
    assert f"lab {lab} verified on aws (account {settings.sandbox_account})" in out
    assert "(--yes given)" in out and f"A rehearsal: every call goes to {control.endpoint(settings)}" in out
    if lab == "1":  # 1.4 judged by the simulator, once per user and grade
        assert simulations(settings, settings.sandbox_account) - before == 6


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
    """Without a terminal the question is refused at once (tests/test_bad_input.py); on one it is asked."""
    code, shown = _answer_prompt(["lab.start", "1", *aws_flags(settings)], rehearsal_env(settings), "n")
    assert code == 1 and "nothing was created" in shown, shown
    assert f"AWS account {settings.sandbox_account}, region {REGION}" in shown and "Continue? [y/N]" in shown
    assert services_called(settings, settings.sandbox_account) == {"sts"}, "asked who it is, and nothing else"

    target = make_target(rehearsal(settings))
    with pytest.raises(BootcampError, match="m5.large is outside the free tier"):
        target.check_instance_type("m5.large")


# --- the guide's AWS-only blocks ------------------------------------------------------------------

def aws_only_blocks(lab_id: str, values: dict[str, str]) -> list[str]:
    """The commands of a lab's guide that only the aws target shows (the rest are replayed on the sandbox's
    own target by tests/test_guides.py), filled in with the learner's values."""
    from bootcamp.guide import guide_text
    from bootcamp.render import render_text

    lab = get_lab(lab_id)
    context = {**values, "lab_id": lab.id, "lang": "en", "title": lab.title("en")}
    return [render_text(block.run, **context).strip() for step in guide_text(lab).steps.values()
            for block in step.cli if "aws" in block.targets and "embedded" not in block.targets]


def test_the_aws_only_blocks_of_lab1s_guide_run_and_pass_on_a_rehearsal(settings, tmp_path, as_instructor, aws_cli):
    """Step 1.4 on AWS: the guide asks the simulator what each user may do, then stops the instance."""
    from bootcamp.guide_values import learner_values

    rehearsed = as_instructor(settings)
    driver = LabDriver("1", rehearsed)
    driver.run("start")
    iam = driver.client("iam")
    for user, group in {"user-1": "S3-Support", "user-2": "EC2-Support", "user-3": "EC2-Admin"}.items():
        iam.add_user_to_group(UserName=user, GroupName=group)  # steps 1.1-1.3, as every target's blocks do
    values, unknown = learner_values(rehearsed, driver.lab)
    assert unknown == "" and values["target"] == "aws" and values["account_id"] == settings.sandbox_account
    blocks = aws_only_blocks("1", values)
    assert len(blocks) == 2 and "simulate-principal-policy" in blocks[0]
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "aws").symlink_to(aws_cli)
    env = {**rehearsal_env(settings), "HOME": str(tmp_path), "LANG": "C.UTF-8", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ENDPOINT_URL": control.endpoint(settings), "PATH": f"{tmp_path / 'bin'}{os.pathsep}/usr/bin:/bin"}
    shell = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(blocks)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert shell.returncode == 0, shell.stdout[-2000:] + shell.stderr[-2000:]
    said = " ".join(shell.stdout.split())
    assert ("user-1 s3:ListAllMyBuckets allowed ec2:DescribeInstances implicitDeny ec2:StopInstances implicitDeny "
            "user-2 s3:ListAllMyBuckets implicitDeny ec2:DescribeInstances allowed ec2:StopInstances implicitDeny "
            "user-3 s3:ListAllMyBuckets implicitDeny ec2:DescribeInstances allowed ec2:StopInstances allowed") in said
    assert driver.failing() == set()


@pytest.mark.parametrize("lab_id, says", [
    ("2", ["HTTP 200"]),  # 2.7: the app at the instance's public address
    ("3", ["\nok\n", '"reachable": true']),  # 3.3: the app at the instance's public address, and its bucket
    ("4", ["HTTP 200", '"availability_zone": "us-west-2a"', '"availability_zone": "us-west-2b"']),  # 4.7
])
def test_the_aws_guide_runs_and_passes_on_a_rehearsal(lab_id, says, settings, tmp_path, as_instructor, aws_cli):
    """The aws target's whole guide, in order, in one shell with the real AWS CLI, as an instructor rehearses it:
    its first block's `lab.start` asks on the terminal and is answered, its AWS-only blocks ask the public
    addresses themselves (the shell's HTTP proxy is the sandbox: rehearsal.shell_env), and its last block,
    `invoke lab.grade`, exits 0 only when every step passes."""
    from bootcamp import rehearsal as rehearsals
    from bootcamp.guide import render_guide, runnable_blocks
    from bootcamp.guide_values import learner_values
    from test_guides import replay

    rehearsed = as_instructor(settings)
    lab = get_lab(lab_id)
    values, unknown = learner_values(rehearsed, lab)
    assert unknown == "" and values["target"] == "aws" and values["region"] == REGION
    blocks = runnable_blocks(render_guide(lab, "en", "md", values))
    only_aws = aws_only_blocks(lab_id, values)
    assert only_aws and all(block in blocks for block in only_aws), "the AWS-only blocks are the guide's"
    assert not any("sandbox.env" in block for block in blocks)
    env = {**rehearsal_env(settings), **rehearsals.shell_env(control.endpoint(settings))}
    terminal, typed = pty.openpty()
    try:
        os.write(terminal, b"y\n")  # typed ahead: the answer to lab.start's question
        shell = replay(blocks, settings, tmp_path, aws_cli, env=env, stdin=typed)
    finally:
        os.close(typed)
        os.close(terminal)
    output = f"\n--- exit {shell.returncode} ---\n{shell.stdout[-3000:]}\n--- stderr ---\n{shell.stderr[-3000:]}"
    assert shell.returncode == 0, output
    asked = f"AWS account {settings.sandbox_account}, region {REGION}"
    assert asked in shell.stdout and "Continue? [y/N]" in shell.stdout, output
    assert "(--yes given)" not in shell.stdout
    for said in says:
        assert said in shell.stdout, f"{said!r} not in the guide's output" + output
    score = " ".join(shell.stdout.split()[-14:])
    assert f"Score {lab.max_points}/{lab.max_points} (all steps pass) on aws, account {settings.sandbox_account}" \
        in score, output
