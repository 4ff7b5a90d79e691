"""The localstack target against real emulators: LocalStack (localstack-core), LocalEmu and MiniStack.

`.ci/emulators install` puts each runtime in a venv of its own (CI does so in the background while
the project installs); this module starts each one it has tests for on a free port, once, and stops
it at the end. A test is skipped when its runtime is not installed, and fails instead under CI=true
(for the runtimes .ci/run installs: BOOTCAMP_CI_EMULATORS, by default MiniStack and LocalStack).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootcamp import emulators, lifecycle
from bootcamp.errors import TargetUnavailable
from bootcamp.labmodel import get_lab
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.targets import LocalStackTarget, make_target
from conftest import ROOT, LabDriver
from scheduling import EMULATORS as INSTALLED

# What CI installs (.ci/run): under CI=true a test of one of these fails when it is not installed.
CI_RUNTIMES = os.environ.get("BOOTCAMP_CI_EMULATORS", "ministack localstack").split()
INSTALL_WAIT = 600  # seconds: CI's background install may still be running when the tests start
START_WAIT = 180  # LocalStack takes 10-30 s to answer on a busy 2-core machine


@dataclass(frozen=True)
class Runtime:
    emulator: str  # its name in bootcamp/emulators.toml
    command: tuple[str, ...]  # relative to its venv
    env: tuple[tuple[str, str], ...]  # {port} and {data} filled in

    def environment(self, port: int, data: Path) -> dict[str, str]:
        return {k: v.format(port=port, data=data) for k, v in self.env}


# Each binds 127.0.0.1 only; LocalStack and LocalEmu without their DNS server (port 53) and downloads.
RUNTIMES = {
    "ministack": Runtime("MiniStack", ("bin/ministack",), (("GATEWAY_PORT", "{port}"), ("BIND_HOST", "127.0.0.1"))),
    "localemu": Runtime("LocalEmu", ("bin/python", "-m", "localemu.runtime.main"), (
        ("GATEWAY_LISTEN", "127.0.0.1:{port}"), ("DNS_ADDRESS", "0"), ("SKIP_SSL_CERT_DOWNLOAD", "1"),
        ("DISABLE_EVENTS", "1"), ("LOCALSTACK_VOLUME_DIR", "{data}/volume"))),
    "localstack": Runtime("LocalStack", ("bin/python", "-m", "localstack.runtime.main"), (
        ("GATEWAY_LISTEN", "127.0.0.1:{port}"), ("DNS_ADDRESS", "0"), ("SKIP_SSL_CERT_DOWNLOAD", "1"),
        ("DISABLE_EVENTS", "1"), ("LOCALSTACK_VOLUME_DIR", "{data}/volume"))),
}

pytestmark = pytest.mark.localstack


def installed(name: str) -> bool:
    """Whether the runtime is installed, waiting while an install of it is under way."""
    deadline = time.monotonic() + INSTALL_WAIT
    while (INSTALLED / f"{name}.installing").exists() and time.monotonic() < deadline:
        try:
            os.kill(int((INSTALLED / f"{name}.installing").read_text() or 0), 0)
        except (OSError, ValueError):
            break  # its installer is gone
        time.sleep(0.5)
    return (INSTALLED / name / "ready").exists()


def health_path(runtime: Runtime) -> str:
    return next(e.health for e in emulators.catalog()[0] if e.name == runtime.emulator)


class Runtimes:
    """The runtimes this module's selected tests name, launched at once (they boot side by side)."""

    def __init__(self, names: set[str], data: Path):
        self.data, self.started, self.hosts, self.missing = data, {}, {}, {}
        for name in sorted(names):
            self.launch(name)

    def launch(self, name: str) -> None:
        if not installed(name):
            self.missing[name] = (f"{name} is not installed in {INSTALLED}: run `.ci/emulators install {name}` "
                                  "(see the README's localstack target)")
            return
        runtime, port, data = RUNTIMES[name], control.free_port(), self.data / name
        data.mkdir(parents=True, exist_ok=True)
        log = (data / "log").open("wb")
        self.started[name] = (subprocess.Popen(
            [str(INSTALLED / name / runtime.command[0]), *runtime.command[1:]], cwd=data,
            env={**os.environ, **runtime.environment(port, data)}, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True), port)

    def host(self, name: str) -> str:
        """host:port of the runtime once its health answers; a skip (a failure under CI) when not installed."""
        if name not in self.started and name not in self.missing:
            self.launch(name)  # a test named no `runtime` parameter for it
        if name in self.missing:
            if os.environ.get("CI") == "true" and name in CI_RUNTIMES:
                pytest.fail(self.missing[name])
            pytest.skip(self.missing[name])
        if name not in self.hosts:
            process, port = self.started[name]
            url = f"http://127.0.0.1:{port}{health_path(RUNTIMES[name])}"
            deadline = time.monotonic() + START_WAIT
            while not isinstance(emulators.read_json(url, timeout=2), dict):
                log = (self.data / name / "log").read_text(errors="replace")[-2000:]
                assert process.poll() is None, f"{name} exited ({process.returncode}):\n{log}"
                assert time.monotonic() < deadline, f"{name} gave no health answer in {START_WAIT} s:\n{log}"
                time.sleep(0.2)
            self.hosts[name] = f"127.0.0.1:{port}"
        return self.hosts[name]

    def stop(self) -> None:
        """Killed outright: their state is this run's, and LocalStack's orderly stop takes seconds."""
        for process, _ in self.started.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def runtimes(request, tmp_path_factory):
    here = Path(request.module.__file__)
    names = {item.callspec.params["runtime"] for item in request.session.items
             if item.path == here and "runtime" in getattr(getattr(item, "callspec", None), "params", {})}
    started = Runtimes(names, tmp_path_factory.mktemp("emulators"))
    yield started
    started.stop()


def fresh_account() -> str:
    return f"8{time.time_ns() % 10**11:011d}"


@pytest.fixture
def on(runtimes, tmp_path, monkeypatch):
    """Settings for the localstack target on one runtime, in an account of their own."""
    def settings(name: str) -> Settings:
        monkeypatch.setenv("LOCALSTACK_HOST", runtimes.host(name))
        return Settings.from_env(env={}, target="localstack", home=tmp_path, owner="tester",
                                 emulator_account=fresh_account(), retry_backoff=0)
    return settings


ALL = pytest.mark.parametrize("runtime", sorted(RUNTIMES))


@ALL
def test_the_emulator_is_recognised_with_the_services_it_serves(on, runtime):
    on(runtime)
    found = LocalStackTarget(Settings(target="localstack")).emulator
    assert found.emulator.name == RUNTIMES[runtime].emulator and re.fullmatch(r"\d+(\.\d+)+", found.version)
    assert {"iam", "ec2", "s3", "sts"} <= found.services
    assert ("elbv2" in found.services) == (runtime != "localstack")  # MiniStack names it elasticloadbalancing


@ALL
def test_lab1_verifies_in_a_fresh_account_of_its_own(on, runtime):
    """verify leaves the emulator's shared account (000000000000, LocalStack's "test" key) alone."""
    settings = on(runtime).but(emulator_account=None)
    shared = make_target(settings)
    before = {u["UserName"] for u in shared.client("iam").list_users()["Users"]}
    log: list[str] = []
    outcome = lifecycle.verify(get_lab("1"), settings, log.append)
    assert outcome.ok, outcome.problems
    assert re.fullmatch(r"\d{12}", outcome.account) and outcome.account != shared.account_id == "000000000000"
    assert not [line for line in log if line.startswith("note:")], log
    assert {u["UserName"] for u in shared.client("iam").list_users()["Users"]} == before


@pytest.mark.parametrize("runtime, lab, named", [
    ("ministack", "2", ["MiniStack 1.5", "NetworkInterfaces", "user data"]),
    ("ministack", "4", ["PutNotificationConfiguration"]),
    ("localstack", "4", ["LocalStack 2026", "elbv2 (Elastic Load Balancing v2)", "autoscaling (EC2 Auto Scaling)"]),
    ("localstack", "5", ["LocalStack 2026", "cloudfront (CloudFront)"]),
    ("ministack", "5", ["MiniStack 1.5", "PutNotificationConfiguration"]),
])
def test_a_lab_the_emulator_cannot_run_is_refused_in_one_line(on, runtime, lab, named):
    """From the health answer (LocalStack) or the known gaps (MiniStack); lab 3 on LocalStack offline
    (its DynamoDB waits for a download) is in the README's table, not here: its refusal waits 15 s."""
    settings = on(runtime)
    with pytest.raises(TargetUnavailable) as refused:
        lifecycle.prepare(settings, get_lab(lab), log=print)
    line = str(refused.value)
    assert all(n in line for n in named) and "--target embedded" in line and "--target aws" in line, line
    assert "\n" not in line
    assert not (settings.home / f"lab{lab}").exists(), "nothing is prepared for a lab the target cannot run"
    assert make_target(settings).client("ec2").describe_vpcs(
        Filters=[{"Name": "tag-key", "Values": ["bootcamp:lab"]}])["Vpcs"] == []


def test_nothing_answering_is_said_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALSTACK_HOST", f"127.0.0.1:{control.free_port()}")
    settings = Settings.from_env(env={}, target="localstack", home=tmp_path)
    with pytest.raises(TargetUnavailable, match=r"^no emulator \(LocalEmu, MiniStack, LocalStack\) answers"):
        lifecycle.verify(get_lab("1"), settings)


def test_permissions_are_judged_from_the_policies_there(on):
    """LocalStack's free edition does not enforce IAM: the documents themselves are evaluated."""
    lab = LabDriver("1", on("localstack"))
    lab.run("start")
    lab.run("solve")
    lab.client("iam").put_group_policy(
        GroupName="EC2-Admin", PolicyName="EC2-Admin-Policy", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}]}))
    result = {s.id: s for s in lab.grade().steps}
    assert [i for i, s in result.items() if s.status != "PASS"] == ["1.4"]
    assert "user-3 is denied ec2:StopInstances" in result["1.4"].message
    lab.run("clean")


def test_a_service_is_asked_whether_it_answers_not_only_listed(on):
    target = LocalStackTarget(on("localstack"))
    target.check_answers("sns")
    with pytest.raises(TargetUnavailable, match="license plan"):
        target.check_answers("elbv2")


def test_the_install_script_pins_what_the_readme_table_was_measured_with():
    script = (ROOT / ".ci" / "emulators").read_text()
    readme = (ROOT / "README.md").read_text().lower()
    pins = re.findall(r"(ministack|localemu|localstack-core)(?:\[\w+\])?==([\d.]+)", script)
    assert len(pins) == 3
    for name, version in pins:
        assert f"{name} {version}" in readme, f"the README's emulator table names {name} {version}"



def test_a_gap_holds_for_its_emulator_and_range_of_versions():
    gap = emulators.Gap(emulator="MiniStack", need="x", says="y", since="1.5", before="1.6.2")
    assert gap.applies("MiniStack", "1.5.33") and gap.applies("MiniStack", "1.6.1")
    assert not gap.applies("MiniStack", "1.4.9") and not gap.applies("MiniStack", "1.6.2")
    assert not gap.applies("LocalEmu", "1.5.33")
    assert emulators.version_key("2026.3.0.dev12") == (2026, 3, 0) and emulators.version_key("1.5rc1") == (1, 5)


def test_every_need_a_lab_names_is_a_gap_the_catalog_knows():
    """A misspelt `needs` entry would never be refused anywhere: each names a gap of emulators.toml."""
    from bootcamp.labmodel import all_labs

    known = {gap.need for gap in emulators.catalog()[1]}
    assert {(lab.id, need) for lab in all_labs().values() for need in lab.needs if need not in known} == set()
    assert all(gap.emulator in {e.name for e in emulators.catalog()[0]} for gap in emulators.catalog()[1])
