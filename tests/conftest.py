"""Fixtures: one real sandbox server per test run; each test gets an AWS account of its own."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bootcamp import grading, lifecycle
from bootcamp.labmodel import get_lab
from bootcamp.provision import Context
from bootcamp.results import PASS
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.targets import make_target

ROOT = Path(__file__).resolve().parent.parent
_accounts = itertools.count(1)

# Each pytest-xdist worker picks ports from a block of its own (below the kernel's ephemeral
# range), so workers never race for one; see control.free_port.
_worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
# BOOTCAMP_TEST_PORT_BASE moves the blocks (default 20000), for test runs of several worktrees on one machine.
_base = int(os.environ.get("BOOTCAMP_TEST_PORT_BASE", "20000"))
os.environ[control.PORT_RANGE_VARIABLE] = f"{_base + 1000 * (_worker % 12)}-{_base + 999 + 1000 * (_worker % 12)}"


def pytest_sessionstart(session):
    """The project's own modules compiled once, before the workers start (the controller only).

    The suite runs hundreds of Python processes (invoke tasks, sandboxes, warm graders); where
    PYTHONDONTWRITEBYTECODE is set (as in CI's image) none of them writes what it compiles, and
    each would compile every project module it imports again. Compiled files are read all the same.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        import compileall

        for folder in ("bootcamp", "graders", "labs", "employee_directory", "tests"):
            compileall.compile_dir(ROOT / folder, quiet=1, workers=0)
        compileall.compile_file(ROOT / "tasks.py", quiet=1)


@pytest.fixture(scope="session")
def sandbox_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bootcamp-home")


@pytest.fixture(scope="session", autouse=True)
def no_warm_grader_left(tmp_path_factory):
    """The warm graders the tests' grades started (one per home) end with the worker."""
    yield
    from bootcamp import warm

    for pid_file in tmp_path_factory.getbasetemp().glob("**/run/grader.pid"):
        warm.stop(pid_file.parent.parent)


# A dropped packet is held this long (2 s for a learner): the tests judge that no answer comes, not when.
# The class test keeps 39 learners' apps running while a worker runs other modules' tests beside it
# (a class on one machine sets the cap the same way; each app is about 10 MB).
# The shared sandbox keeps its state in memory only: writing it back cost 25% more CPU on
# tests/test_lab4.py (the tests' write-heavy load); the lasting state is proven by
# tests/test_sandbox_state.py on sandboxes of its own, which write it.
# The data plane's clock runs 60 times faster: a target group's 30 s health checks every 0.5 s, so a
# solved lab 4 has its two healthy targets within seconds.
SANDBOX_ENV = {"BOOTCAMP_SANDBOX_DROP_SECONDS": "0.3", "BOOTCAMP_SANDBOX_MAX_APPS": "100",
               "BOOTCAMP_SANDBOX_STATE": "off", "BOOTCAMP_SANDBOX_SPEED": "60"}


@pytest.fixture(scope="session")
def sandbox(sandbox_home):
    """A sandbox server process on a free port, as `invoke sandbox.up` starts it."""
    settings = Settings.from_env(env={}, home=sandbox_home, sandbox_port=control.free_port())
    control.up(settings, env=SANDBOX_ENV)
    yield settings
    control.down(settings)


@pytest.fixture
def settings(sandbox, worker_prefix):
    """Settings for a fresh, empty sandbox account: tests never see each other's resources.

    At teardown the account is emptied (as `sandbox.reset --account` does), so what it ran stops:
    its apps, their health checks and metrics. Terminating its instances would not do: an Auto
    Scaling group replaces them, and the account would go on costing the rest of the run.
    """
    made = sandbox.but(sandbox_account=f"{worker_prefix}{next(_accounts):08d}", owner="tester")
    yield made
    empty_account(made)


def empty_account(settings: Settings) -> None:
    try:
        control.reset(settings, settings.sandbox_account)
    except (OSError, control.SandboxError):
        return  # the test stopped its sandbox


@pytest.fixture(scope="session")
def aws_cli(tmp_path_factory) -> Path:
    """The venv's AWS CLI, loaded once per worker and forked for every command (tests/awscli_server.py).

    The client it yields stands for `aws`: the same argv, environment and streams, the real CLI's
    own code, every request over HTTP. Its folder holds only it (and the server's socket), so
    putting the folder first on a shell's PATH makes that shell's `aws` this one.
    """
    import forkserver

    assert (Path(sys.executable).parent / "aws").exists(), f"no AWS CLI next to {sys.executable}: pip install -e ."
    with forkserver.running("aws", tmp_path_factory.mktemp("aws-cli")) as client:
        yield client


_servers = contextlib.ExitStack()  # what the tests started lazily in this worker, stopped as it ends
_invoke_server: list[Path] = []  # its `invoke` client, once a test ran `invoke`


def invoke_client(prefix: tuple[str, ...] = ()) -> Path:
    """`invoke`, loaded once per worker and forked for every command (tests/forkserver.py): a client
    script that stands for it (`prefix`: arguments it puts before its own; one server serves all)."""
    import tempfile

    import forkserver

    if not _invoke_server:
        folder = Path(tempfile.mkdtemp(prefix="invoke-server-"))
        _servers.callback(shutil.rmtree, folder, ignore_errors=True)
        _invoke_server.append(_servers.enter_context(forkserver.running("invoke", folder)))
    client = _invoke_server[0]
    if not prefix:
        return client
    return forkserver.write_client(client.with_name(f"invoke-{len(list(client.parent.iterdir()))}"),
                                   client.with_suffix(".sock"), prefix)


@pytest.fixture(scope="session", autouse=True)
def no_invoke_server_left():
    yield
    _servers.close()
    _invoke_server.clear()


@pytest.fixture(scope="session")
def worker_prefix() -> str:
    return f"{os.getpid() % 10000:04d}"


def another_account(settings: Settings) -> Settings:
    """The same home, sandbox and worker, in a second fresh account (for what must stay apart)."""
    return settings.but(sandbox_account=f"{settings.sandbox_account[:4]}{next(_accounts):08d}")


@pytest.fixture
def target(settings):
    return make_target(settings)


# Every grade the tests make runs the graders through graders.runner; a pytest session must judge
# the same evidence alike. One session per lab and language judges them all when the worker ends
# (a session per grade cost about 0.1-0.4 s each, hundreds of times).
_graded: list[tuple] = []  # (lab, lang, inventory, the runner's steps, account)


@pytest.fixture(scope="session", autouse=True)
def runner_and_session_judge_alike():
    yield
    groups: dict[tuple[str, str], list[tuple]] = {}
    seen = set()
    for entry in _graded:
        # One grade per outcome: grades with the same statuses, notes or none, step by step, run the
        # same graders through the same fixtures and markers again, at 0.05-0.4 s each.
        outcome = (entry[0].id, entry[1], tuple((s.id, s.status, bool(s.notes)) for s in entry[3]))
        if outcome not in seen:
            seen.add(outcome)
            groups.setdefault((entry[0].id, entry[1]), []).append(entry)
    differ = []
    for (lab_id, lang), entries in groups.items():
        subjects = {f"grade-{n}": entry[2] for n, entry in enumerate(entries)}
        current = os.environ.get("PYTEST_CURRENT_TEST")  # the inner session takes it away at its end
        judged = grading.judge(entries[0][0], subjects, lang, session=True)
        if current is not None:
            os.environ["PYTEST_CURRENT_TEST"] = current
        differ += [f"lab {lab_id} ({lang}), account {entry[4]}" for n, entry in enumerate(entries)
                   if judged[f"grade-{n}"] != entry[3]]
    assert not differ, f"graders.runner and a pytest session judged these grades differently: {differ}"


class LabDriver:
    """Drives one lab in one account through the library, as the invoke tasks do."""

    def __init__(self, lab_id: str, settings: Settings):
        self.lab = get_lab(lab_id)
        self.settings = settings
        self.target = make_target(settings)
        self.log: list[str] = []

    def run(self, action: str):
        return lifecycle.provision(action, self.lab, self.target, self.settings, self.log.append)

    def grade(self, lang: str = "en"):
        result, inventory = grading.grade(self.lab, self.target, self.settings.home, lang)
        _graded.append((self.lab, lang, inventory, result.steps, self.settings.sandbox_account))
        return result

    def statuses(self) -> dict[str, str]:
        return {s.id: s.status for s in self.grade().steps}

    def context(self) -> Context:
        return Context(lab=self.lab, target=self.target, owner=self.settings.owner, home=self.settings.home,
                       log=self.log.append)

    def step(self, step_id: str, lang: str = "en"):
        return next(s for s in self.grade(lang).steps if s.id == step_id)

    def failing(self) -> set[str]:
        return {step for step, status in self.statuses().items() if status != PASS}

    def client(self, service: str):
        return self.target.client(service)

    def running(self):
        """What the learner keeps running while grading (lab 3's app, served here), as a context."""
        return lifecycle.running(self.lab, self.context())


@pytest.fixture
def lab1(settings) -> LabDriver:
    return LabDriver("1", settings)


@pytest.fixture
def lab2(settings) -> LabDriver:
    return LabDriver("2", settings)


@pytest.fixture
def lab3(settings) -> LabDriver:
    return LabDriver("3", settings)


@pytest.fixture
def lab4(settings) -> LabDriver:
    return LabDriver("4", settings)


def an_image(ec2) -> dict:
    """An Amazon Linux 2023 AMI, found by name: listing every Amazon-owned image answers all 1,300 of
    them (0.9 MB, 2-5 s a call here), as AWS would answer tens of thousands."""
    return ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["al2023-ami-2023*-x86_64"]}])["Images"][0]


def run_invoke(*args: str, env: dict | None = None, timeout: int = 120,
               fresh: bool = False) -> subprocess.CompletedProcess:
    """`invoke ...` as a user types it, from the project folder, with only the AWS settings given:
    a fork of the worker's loaded `invoke` (`invoke_client`), or with `fresh` a new Python process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOOTCAMP_", "LOCALSTACK_"))}
    # A grade leaves a warm grader in its home (bootcamp/warm.py): a test's ends with the run at the latest.
    full_env = {**base, "COLUMNS": "200", "AWS_EC2_METADATA_DISABLED": "true", "BOOTCAMP_WARM_IDLE": "120",
                **(env or {})}
    if fresh:
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, env=full_env,
                              capture_output=True, text=True, timeout=timeout)
    import forkserver

    command = [sys.executable, "-m", "invoke", *args]
    try:
        code, out, err = forkserver.call(invoke_client().with_suffix(".sock"), list(args), full_env, ROOT, timeout)
    except subprocess.TimeoutExpired as late:
        raise subprocess.TimeoutExpired(command, timeout, late.output, late.stderr) from None
    return subprocess.CompletedProcess(command, code, out, err)


def sandbox_env(settings: Settings) -> dict[str, str]:
    """The environment a learner has after `eval "$(invoke sandbox.env)"` (plus our home)."""
    return {"BOOTCAMP_HOME": str(settings.home), "BOOTCAMP_SANDBOX_PORT": str(settings.sandbox_port),
            "BOOTCAMP_APP_PORT": str(settings.app_port),
            "BOOTCAMP_SANDBOX_ACCOUNT": settings.sandbox_account, "BOOTCAMP_TARGET": "embedded",
            "AWS_ENDPOINT_URL": control.endpoint(settings), "AWS_ACCESS_KEY_ID": settings.sandbox_account,
            "AWS_SECRET_ACCESS_KEY": control.SECRET, "AWS_DEFAULT_REGION": "us-west-2"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup`: tests that share a module-scoped fixture (the class of 52, the grader-role
    recordings) run on one worker, so it is built once per run; the longest units go first."""
    if config.getvalue("dist") == "loadgroup":
        from scheduling import GroupedScheduling

        return GroupedScheduling(config, log)
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """`-n auto`: a worker more than the cores. A test waits at times (an app starting, a health check's
    interval, a dropped packet's timeout, a forked AWS CLI), and a third worker's test takes the core
    it leaves; BOOTCAMP_TEST_WORKERS sets the number outright."""
    wanted = os.environ.get("BOOTCAMP_TEST_WORKERS", "")
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return len(os.sched_getaffinity(0)) + 1
