"""Bad input and a broken environment: one clear line, a non-zero exit, no traceback, nothing lost."""

import importlib.util
import json
import os
import signal
import socket

import pytest

from bootcamp import grading
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.targets import AwsTarget, EmbeddedTarget, make_target
from bootcamp.errors import BootcampError, Declined
from bootcamp.sandbox.control import free_port
from conftest import ROOT, run_invoke, sandbox_env

def one_line_error(result, *fragments: str) -> str:
    assert result.returncode not in (0, 1), result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def clear_faults(settings):
    yield
    control.inject_faults(settings, 0, account=settings.sandbox_account)


def test_unknown_lab(settings):
    line = one_line_error(run_invoke("lab.grade", "9", env=sandbox_env(settings)), "unknown lab '9'")
    assert "1 (Introduction to AWS IAM)" in line


def test_unknown_target(settings):
    one_line_error(run_invoke("lab.start", "1", "--target", "gcp", env=sandbox_env(settings)),
                   "unknown target 'gcp'", "embedded, localstack, aws")


def test_bad_port(settings):
    one_line_error(run_invoke("sandbox.up", "--port", "99999", env=sandbox_env(settings)), "not a TCP port")


def test_bad_app_port(settings):
    one_line_error(run_invoke("app.run", "--port", "http", env=sandbox_env(settings)), "app port 'http' is not a TCP port")
    one_line_error(run_invoke("app.run", env={**sandbox_env(settings), "BOOTCAMP_APP_PORT": "0"}),
                   "app port '0' is not a TCP port")


def test_grading_a_sandbox_that_is_down(settings):
    env = {**sandbox_env(settings), "BOOTCAMP_SANDBOX_PORT": str(free_port())}
    one_line_error(run_invoke("lab.grade", "1", env=env), "sandbox is down", "invoke sandbox.up")


def test_sandbox_port_in_use_by_another_program(settings, tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env = {**sandbox_env(settings), "BOOTCAMP_HOME": str(tmp_path)}
        one_line_error(run_invoke("sandbox.up", "--port", str(port), env=env),
                       f"port {port} is in use by another program")
        one_line_error(run_invoke("lab.start", "1", "--port", str(port), env=env), "in use by another program")


def test_a_sandbox_that_died_is_reported(tmp_path):
    settings = Settings.from_env(env={}, home=tmp_path, sandbox_port=free_port())
    running = control.up(settings)
    env = {"BOOTCAMP_HOME": str(tmp_path), "BOOTCAMP_SANDBOX_PORT": str(settings.sandbox_port)}
    assert "sandbox running" in run_invoke("sandbox.status", env=env).stdout
    os.kill(running.pid, signal.SIGKILL)
    os.waitpid(running.pid, 0)
    status = run_invoke("sandbox.status", env=env)
    assert status.returncode == 1 and "has stopped (log: " in status.stdout and "brings back what was saved" in status.stdout
    one_line_error(run_invoke("lab.grade", "1", env=env), "has stopped", "lab.start")
    started = run_invoke("lab.start", "1", env=env)  # start says what happened and rebuilds
    assert started.returncode == 0 and "note: the sandbox" in started.stdout
    control.down(settings)


def test_localstack_not_running(settings):
    env = {**sandbox_env(settings), "LOCALSTACK_HOST": f"127.0.0.1:{free_port()}"}
    one_line_error(run_invoke("lab.start", "1", "--target", "localstack", env=env),
                   "no emulator (LocalEmu, MiniStack, LocalStack) answers", "--target embedded")


@pytest.mark.parametrize("task", ["lab.start", "lab.grade", "lab.verify"])
def test_lab4_on_no_emulator_is_refused_at_once_before_anything_is_prepared(tmp_path, task):
    """What an emulator lacks is asked of the one that answers (tests/test_localstack.py); none does here."""
    env = {"BOOTCAMP_HOME": str(tmp_path), "LOCALSTACK_HOST": f"127.0.0.1:{free_port()}"}
    one_line_error(run_invoke(task, "4", "--target", "localstack", env=env),
                   "no emulator", "answers at", "--target embedded", "--target aws")
    assert not any(tmp_path.iterdir()), "nothing is prepared for a lab the target cannot run"


def test_aws_without_credentials(tmp_path):
    env = {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "BOOTCAMP_HOME": str(tmp_path)}
    result = run_invoke("lab.start", "1", "--target", "aws", env=env)
    one_line_error(result, "no AWS credentials found", "AWS_PROFILE")


def test_aws_with_an_unknown_profile(tmp_path):
    env = {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "BOOTCAMP_HOME": str(tmp_path)}
    one_line_error(run_invoke("lab.grade", "1", "--target", "aws", "--profile", "nobody", env=env),
                   "nobody", "AWS_PROFILE")


def test_aws_refuses_while_pointed_at_an_emulator(settings):
    one_line_error(run_invoke("lab.start", "1", "--target", "aws", env=sandbox_env(settings)),
                   "AWS_ENDPOINT_URL is set")


def test_aws_refuses_instance_types_outside_the_free_tier():
    target = AwsTarget(Settings.from_env(env={}, target="aws"))
    target.check_instance_type("t3.micro")
    with pytest.raises(BootcampError, match="t3.large is outside the free tier"):
        target.check_instance_type("t3.large")


def aws_target(**settings) -> AwsTarget:
    target = AwsTarget(Settings.from_env(env={}, target="aws", region="eu-west-1", **settings))
    target.__dict__["account_id"] = "111122223333"  # what STS would answer; no call leaves this machine
    return target


def test_aws_asks_before_creating_and_yes_skips_the_question(capsys):
    with pytest.raises(Declined, match="account 111122223333, region eu-west-1.*--yes"):
        aws_target().confirm_changes("lab 1")  # stdin is not a terminal here: refuse, do not hang
    aws_target(assume_yes=True).confirm_changes("lab 1")
    assert "account 111122223333, region eu-west-1" in capsys.readouterr().out


def test_throttling_is_retried(lab1, clear_faults):
    lab1.run("start")
    lab1.target = make_target(lab1.settings.but(retry_backoff=0))  # botocore's back-off, without the waits
    control.inject_faults(lab1.settings, 2, account=lab1.settings.sandbox_account)
    assert lab1.failing() == {"1.1", "1.2", "1.3", "1.4"}


def test_throttling_that_lasts_gets_one_line_and_loses_nothing(settings, clear_faults):
    env = {**sandbox_env(settings), "BOOTCAMP_RETRY_BACKOFF": "0"}  # the retries, without the waits
    assert run_invoke("lab.start", "1", env=env).returncode == 0
    control.inject_faults(settings, 40, account=settings.sandbox_account)
    one_line_error(run_invoke("lab.grade", "1", env=env), "throttling", "after the standard retries",
                   "nothing was lost")
    control.inject_faults(settings, 0, account=settings.sandbox_account)
    assert run_invoke("lab.solve", "1", env=env).returncode == 0
    assert run_invoke("lab.grade", "1", env=env).returncode == 0


def test_expired_credentials(settings, clear_faults):
    env = sandbox_env(settings)
    assert run_invoke("lab.start", "1", env=env).returncode == 0
    control.inject_faults(settings, 40, "ExpiredToken", account=settings.sandbox_account)
    one_line_error(run_invoke("lab.grade", "1", env=env), "credentials have expired")


def test_a_bad_retry_back_off_is_one_line(settings):
    env = {**sandbox_env(settings), "BOOTCAMP_RETRY_BACKOFF": "soon"}
    one_line_error(run_invoke("lab.grade", "1", env=env), "retry back-off", "'soon'", "from 0 to 20")


def test_access_denied_for_the_grader_is_an_error_naming_the_permission(lab1):
    lab1.run("start")
    iam = lab1.client("iam")
    iam.create_user(UserName="grader")
    iam.attach_user_policy(UserName="grader", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess")
    key = iam.create_access_key(UserName="grader")["AccessKey"]
    as_grader = EmbeddedTarget(lab1.settings, credentials=(key["AccessKeyId"], key["SecretAccessKey"]))
    result, _ = grading.grade(lab1.lab, as_grader, lab1.settings.home)
    assert {s.status for s in result.steps} == {"ERROR"}
    assert "needs iam:GetAccountAuthorizationDetails" in result.steps[0].message


# --- every task, every kind of bad input: one table ---------------------------------------------
#
# A row: (kind, task and arguments, a fragment of the one line, how it runs). Placeholders:
# {in} a folder of prepared inputs, {file} a plain file in it, {home} the row's home (not made),
# {port} the test run's sandbox port (started from another home). "cli" rows run through a real
# `invoke` process; the others call invoke's Program in this process (the same parser, wrapper and
# task bodies, without a Python start-up per row).
BAD_HOMES = {"under a file": "{file}/home", "under /proc": "/proc/bootcamp-home"}
BAD_INPUT = [
    ("region", ["lab.start", "1", "--region", "xx-1"], "unknown AWS region 'xx-1'", "cli"),
    ("region", ["lab.solve", "1", "--region", "us-wrong-1"], "unknown AWS region", ""),
    ("region", ["lab.clean", "2", "--region", "mars-1"], "unknown AWS region", ""),
    ("region", ["lab.grade", "1", "--region", "xx-1"], "unknown AWS region", "cli"),
    ("region", ["lab.guide", "2", "--region", "xx-1"], "unknown AWS region", ""),
    ("region", ["lab.verify", "1", "--region", "xx-1"], "unknown AWS region", ""),
    ("region", ["class.grade", "--roster", "{in}/roster.csv", "--lab", "1", "--out", "{in}/class",
                "--region", "xx-1"], "unknown AWS region", ""),
    ("region", ["sandbox.env", "--region", "xx-1"], "unknown AWS region", ""),
    ("region", ["app.run", "--region", "xx-1"], "unknown AWS region", "cli"),
    ("region", ["app.userdata", "--region", "xx-1"], "unknown AWS region", ""),
    ("home", ["lab.start", "1"], "BOOTCAMP_HOME", "cli:under a file"),
    ("home", ["lab.start", "1"], "BOOTCAMP_HOME", ":under /proc"),
    ("home", ["lab.solve", "1"], "BOOTCAMP_HOME", ":under a file"),
    ("home", ["lab.clean", "1"], "BOOTCAMP_HOME", ":under /proc"),
    ("home", ["lab.verify", "1"], "BOOTCAMP_HOME", ":under a file"),
    ("home", ["sandbox.up", "--port", "{free}"], "BOOTCAMP_HOME", "cli:under /proc"),
    ("home", ["sandbox.up", "--port", "{free}"], "BOOTCAMP_HOME", ":under a file"),
    ("home", ["app.run"], "BOOTCAMP_HOME", "cli:under a file"),
    ("output path", ["lab.grade", "1", "--json", "/proc/x.json"], "--json /proc/x.json cannot be written", "cli"),
    ("output path", ["lab.grade", "1", "--json", "{in}"], "is a folder", ""),
    ("output path", ["lab.grade", "1", "--junit", "{in}"], "--junit", ""),
    ("output path", ["lab.grade", "1", "--snapshot", "{file}/x.json"], "is a file, not a folder", ""),
    ("output path", ["lab.guide", "1", "--out", "{in}"], "is a folder", ""),
    ("output path", ["app.userdata", "--out", "{in}"], "is a folder", ""),
    ("output path", ["app.userdata", "--out", "/proc/user-data.sh"], "cannot be written", ""),
    ("output path", ["class.grade", "--roster", "{in}/roster.csv", "--lab", "1", "--out", "{file}"],
     "is a file, not a folder", ""),
    ("output path", ["class.merge", "--parts", "{in}/part-1", "--out", "{file}"], "is a file, not a folder", "cli"),
    ("snapshot", ["lab.grade", "1", "--from-snapshot", "{in}/list.json"], "not a saved grade snapshot", "cli"),
    ("snapshot", ["lab.grade", "1", "--from-snapshot", "{file}"], "is not JSON", ""),
    ("snapshot", ["lab.grade", "2", "--from-snapshot", "{in}/lab1.json"], "is of lab 1, not lab 2", ""),
    ("snapshot", ["lab.grade", "1", "--from-snapshot", "{in}/old.json"], "another version", ""),
    ("snapshot", ["lab.grade", "1", "--from-snapshot", "{in}/none.json"], "cannot read snapshot", ""),
    ("number", ["class.grade", "--roster", "{in}/roster.csv", "--lab", "1", "--out", "{in}/class",
                "--workers", "abc"], "--workers 'abc' is not a whole number", "cli"),
    ("number", ["class.grade", "--roster", "{in}/roster.csv", "--lab", "1", "--out", "{in}/class",
                "--workers", "0"], "--workers '0'", ""),
    ("number", ["lab.start", "1", "--port", "99999"], "not a TCP port", ""),
    ("number", ["sandbox.up", "--port", "abc"], "not a TCP port", ""),
    ("number", ["sandbox.status", "--port", "-1"], "not a TCP port", ""),
    ("number", ["sandbox.reset", "--port", "abc"], "not a TCP port", ""),
    ("number", ["app.run", "--port", "http"], "not a TCP port", ""),
    ("number", ["class.grade", "--roster", "{in}/roster.csv", "--lab", "1", "--out", "{in}/class",
                "--shard", "3/2"], "--shard '3/2'", ""),
    ("bucket", ["app.run", "--bucket", "Bad_Bucket!"], "not a valid S3 bucket name", "cli"),
    ("bucket", ["app.userdata", "--bucket", "Bad_Bucket!"], "not a valid S3 bucket name", ""),
    ("roster", ["class.grade", "--roster", "{in}/header-only.csv", "--lab", "1", "--out", "{in}/class"],
     "has a header and no learners", "cli"),
    ("roster", ["class.grade", "--roster", "{in}/missing.csv", "--lab", "1", "--out", "{in}/class"],
     "no roster at", ""),
    ("merge", ["class.merge", "--parts", "{in}/part-1,{in}/part-lab2", "--out", "{in}/merged"],
     "another lab", "cli"),
    ("merge", ["class.merge", "--parts", "{in}/part-1,{in}/part-roster2", "--out", "{in}/merged"],
     "another roster", ""),
    ("sandbox", ["sandbox.down", "--port", "{port}"], "was not started from", "cli"),
    ("output path", ["sandbox.save", "{in}", "--port", "{port}"], "is a folder", ""),
    ("output path", ["sandbox.save", "/proc/x.state", "--port", "{port}"], "cannot be written", ""),
    ("name", ["sandbox.save", "{in}/s.state", "--account", "12", "--port", "{port}"], "not a 12-digit account id", ""),
    ("name", ["sandbox.load", "{in}/none.state", "--port", "{port}"], "cannot read", ""),
    ("name", ["sandbox.load", "{file}", "--account", "abc", "--port", "{port}"], "not a 12-digit account id", ""),
    ("endpoint", ["lab.start", "1", "--target", "aws", "--endpoint-url", "ftp://x"], "is not an endpoint URL", "cli"),
    ("endpoint", ["lab.verify", "1", "--target", "aws", "--endpoint-url", "http://127.0.0.1:{port}/iam"],
     "nothing after the port", ""),
    ("endpoint", ["lab.grade", "1", "--endpoint-url", "http://127.0.0.1:{port}"], "is for --target aws", ""),
    ("endpoint", ["lab.solve", "1", "--target", "aws", "--endpoint-url", "http://127.0.0.1:{free}"],
     "nothing answers at http://127.0.0.1:", "cli"),
    ("endpoint", ["class.grade", "--roster", "{in}/roster.csv", "--lab", "1", "--out", "{in}/class", "--target", "aws",
                  "--endpoint-url", "http://127.0.0.1:{free}"], "nothing answers at", ""),
    ("name", ["lab.grade", "9"], "unknown lab '9'", ""),
    ("number", ["lab.load", "5", "--requests", "0"], "--requests '0' is not a number of requests from 1 to 500", ""),
    ("name", ["lab.load", "4"], "lab.load measures lab 5", ""),
    ("name", ["lab.open", "9", "--print"], "unknown lab '9'", ""),
    ("name", ["lab.start", "1", "--target", "gcp"], "unknown target 'gcp'", ""),
    ("name", ["lab.list", "--lang", "xx"], "unknown language 'xx'", ""),
    ("name", ["lab.guide", "1", "--format", "pdf"], "unknown format 'pdf'", ""),
    ("name", ["sandbox.env", "--lab", "7"], "unknown lab '7'", ""),
]


def _inputs(folder) -> None:
    """The files the rows name: a plain file, rosters, snapshots and class.grade part folders."""
    from bootcamp.checks import SNAPSHOT_SCHEMA
    from bootcamp.classroom.outputs import SCHEMA

    folder.mkdir()
    (folder / "file").write_text("a plain file\n")
    (folder / "roster.csv").write_text("learner_id,name,sandbox_account\nl1,Ann,111111111111\n")
    (folder / "header-only.csv").write_text("learner_id,name,sandbox_account\n")
    (folder / "list.json").write_text("[1, 2]\n")
    meta = {"schema": SNAPSHOT_SCHEMA, "lab": "1", "target": "embedded", "account": "111111111111"}
    (folder / "lab1.json").write_text(json.dumps({"meta": meta, "data": {}, "errors": {}}))
    (folder / "old.json").write_text(json.dumps({"meta": {"lab": "1"}, "data": {}, "errors": {}}))
    parts = {"part-1": ("1", "r1", "1/2"), "part-lab2": ("2", "r1", "2/2"), "part-roster2": ("1", "r2", "2/2")}
    for name, (lab, roster, shard) in parts.items():
        (folder / name).mkdir()
        (folder / name / "class.json").write_text(json.dumps(
            {"schema": SCHEMA, "lab": lab, "target": "embedded", "lang": "en", "shard": shard,
             "roster": roster, "learners": [], "problems": []}))


def _tree(folder) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns if p.is_file() else "folder"
            for p in sorted(folder.rglob("*"))}


def _calls_to(settings) -> list[dict]:
    """The API calls the sandbox served this account (its own count): none means nothing made or read."""
    return [r for r in control.stats(settings)["by_account_service"] if r["account"] == settings.sandbox_account]


def _namespace():
    """tasks.py's namespace (tasks.py is the project's invoke file, not a module of the package)."""
    spec = importlib.util.spec_from_file_location("bootcamp_tasks_file", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.namespace


def _in_process(argv: list[str], env: dict, monkeypatch, capsys) -> tuple[int, str, str]:
    """`invoke ARGV` through invoke's own Program and our namespace, in this process."""
    from invoke import Program

    for name in [k for k in os.environ if k.startswith(("AWS_", "BOOTCAMP_", "LOCALSTACK_"))]:
        monkeypatch.delenv(name)
    for name, value in {"AWS_EC2_METADATA_DISABLED": "true", **env}.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    try:
        Program(namespace=_namespace(), binary_names=["invoke"]).run(["invoke", *argv])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("kind, argv, fragment, how", BAD_INPUT,
                         ids=[f"{row[0]}-{row[1][0]}-{n}" for n, row in enumerate(BAD_INPUT)])
def test_bad_input_gets_one_line_and_changes_nothing(settings, tmp_path, monkeypatch, capsys,
                                                     kind, argv, fragment, how):
    inputs, home = tmp_path / "in", tmp_path / "home"
    _inputs(inputs)
    runner, _, bad_home = how.partition(":")
    if bad_home:
        home = BAD_HOMES[bad_home].format(file=inputs / "file")
    places = {"in": inputs, "file": inputs / "file", "port": settings.sandbox_port, "free": free_port()}
    argv = [a.format(**places) for a in argv]
    env = {**sandbox_env(settings), "BOOTCAMP_HOME": str(home)}
    before_inputs = _tree(inputs)

    if runner == "cli":
        done = run_invoke(*argv, env=env, timeout=60)
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        code, out, err = _in_process(argv, env, monkeypatch, capsys)

    lines = err.strip().splitlines()
    assert code != 0, (argv, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
    assert fragment in lines[0], (argv, lines[0])
    assert "unexpected" not in err + out and "Traceback" not in err + out
    assert _tree(inputs) == before_inputs, "nothing is written beside the inputs"
    assert not (tmp_path / "home").exists() and not os.path.exists("/proc/bootcamp-home"), "no home is made"
    assert _calls_to(settings) == [], "refused before any call to the account, so nothing is made in it"
    assert control.status(settings).state == "running", "the sandbox of another home keeps running"


def test_the_bad_input_table_covers_every_task_and_kind():
    """The table names every task of `invoke --list`, every kind of bad input, and runs some through `invoke`."""
    every = set(_namespace().task_names)
    covered = {row[1][0] for row in BAD_INPUT}
    assert every - covered == set(), f"tasks without a bad-input row: {sorted(every - covered)}"
    kinds = {row[0] for row in BAD_INPUT}
    assert {"region", "home", "output path", "snapshot", "number", "bucket", "roster", "merge", "sandbox",
            "endpoint"} <= kinds
    assert {row[1][0] for row in BAD_INPUT if row[3].startswith("cli")} >= {"lab.start", "lab.grade", "app.run",
                                                                           "class.grade", "class.merge"}
