"""Instances: a running instance with the project's user data runs the app from that user data.

Desired: every `running` instance whose user data `bootcamp.userdata.inspect` accepts, at its
current boot. Running: child processes of the sandbox, one per such instance. A pass starts
what is missing, stops what is no longer wanted (stopped, terminated, or from an older boot:
a start or a reboot counts a boot), and restarts a crashed app after RESTART_SECONDS, at most
MAX_RESTARTS times a boot. Only the loop's thread starts processes (they get SIGTERM when it
ends, so a killed sandbox leaves no app behind); others ask for a pass with `kick`.
"""

from __future__ import annotations

import ctypes
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from bootcamp import userdata
from bootcamp.sandbox.dataplane import adapter

DEFAULT_MAX_APPS = 10  # measured (bench/dataplane.py): 30 MB RSS, 10 MB PSS each
RESTART_SECONDS = 2.0  # the user data's unit: Restart=always, RestartSec=2
MAX_RESTARTS = 5
STOP_GRACE = 3.0
APP_SETTINGS = ("PHOTOS_BUCKET", "AWS_DEFAULT_REGION", "EMPLOYEE_TABLE")  # what the user data may set
NOT_RUN = ("The sandbox runs only the project's user data (`invoke app.userdata`): "
           "no other script is ever executed on this machine.")


def max_apps(env=None) -> int:
    env = os.environ if env is None else env
    value = env.get("BOOTCAMP_SANDBOX_MAX_APPS", "")
    return int(value) if value.isdigit() else DEFAULT_MAX_APPS


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the sandbox's loop thread ends (Linux; elsewhere nothing)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Forked:
    """An app process the launcher forked: not the sandbox's child, so it is watched by signal 0."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = -1  # the launcher reaped it; its log says why it ended
        return self.returncode

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"app {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode


class Launcher:
    """The process (launcher.py) that forks the apps; started again when it has ended."""

    SCRIPT = Path(__file__).with_name("launcher.py")

    def __init__(self):
        self.proc: subprocess.Popen | None = None

    def launch(self, request: dict) -> Forked:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, str(self.SCRIPT)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, cwd="/",
                                         start_new_session=True, preexec_fn=_die_with_parent)
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise OSError("the app launcher ended")
        return Forked(json.loads(answer)["pid"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class App:
    """One instance's app process, at one boot."""

    instance: adapter.Instance
    folder: Path
    port: int = 0  # where the app listens on 127.0.0.1
    app_port: int = userdata.PORT  # the instance's port it serves (the user data's --port)
    proc: Forked | None = None
    restarts: int = 0
    down_since: datetime.datetime | None = None
    restart_at: float = 0.0
    listening: bool = False  # seen listening since its last start (the edge then skips the check)
    notes: list[str] = field(default_factory=list)


class Instances:
    def __init__(self, base: Path, endpoint: str, metadata, env=None):
        self.base = base
        self.endpoint = endpoint
        self.metadata = metadata
        self.cap = max_apps(env)
        self.lock = threading.RLock()
        self.apps: dict[tuple[str, str], App] = {}
        self.why_not: dict[tuple[str, str], str] = {}  # instances that run no app, and why
        self.passes = 0
        self.passed = threading.Condition(self.lock)
        self.wake = threading.Event()
        self.launcher = Launcher()

    # --- the loop (its thread only) -----------------------------------------------------------

    def reconcile(self) -> None:
        wanted = {i.key: i for i in adapter.running_instances()}
        with self.lock:
            for key, app in list(self.apps.items()):
                now = wanted.get(key)
                if now is None or now.boots != app.instance.boots:
                    self._stop(app)
                    del self.apps[key]
            for key in [k for k in self.why_not if k not in wanted]:
                del self.why_not[key]
            for key, instance in wanted.items():
                self._converge(instance)
            self.passes += 1
            self.passed.notify_all()

    def _converge(self, instance: adapter.Instance) -> None:
        app = self.apps.get(instance.key)
        if app is None:
            self._first_start(instance)
            return
        app.instance = instance  # groups, profile and addresses may change while it runs
        if app.proc is not None and app.proc.poll() is not None:
            app.notes.append(f"the app exited with status {app.proc.returncode}")
            app.proc, app.down_since = None, _utcnow()
            app.restart_at = time.monotonic() + RESTART_SECONDS
        if app.proc is None and app.restarts < MAX_RESTARTS and time.monotonic() >= app.restart_at:
            app.restarts += 1
            self._spawn(app)

    def _first_start(self, instance: adapter.Instance) -> None:
        script = userdata.inspect(instance.user_data)
        if not script.installs_app:
            self.why_not[instance.key] = f"This instance's user data was not run ({script.problem}). {NOT_RUN}"
            return
        if len(self.apps) >= self.cap:
            self.why_not[instance.key] = (
                f"The app was not started: {len(self.apps)} apps already run in this sandbox, the most it "
                f"runs (BOOTCAMP_SANDBOX_MAX_APPS={self.cap}); it starts here when another instance stops.")
            return
        self.why_not.pop(instance.key, None)
        folder = self.base / instance.account / instance.id
        app = App(instance=instance, folder=folder, app_port=script.port or userdata.PORT)
        problem = self._unpack(script, folder / "app")
        if problem:
            self.why_not[instance.key] = f"The app's archive was not unpacked ({problem})."
            return
        app.notes.append(f"boot {instance.boots}: the project's user data; the Employee Directory app from "
                         f"its archive serves port {app.app_port}")
        self.apps[instance.key] = app
        self._spawn(app, script.env)

    @staticmethod
    def _unpack(script: userdata.UserData, into: Path) -> str:
        shutil.rmtree(into, ignore_errors=True)
        for name, data in script.files.items():
            parts = PurePosixPath(name).parts
            if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
                return f"it holds a path outside its folder: {name}"
            target = into.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return ""

    def _spawn(self, app: App, settings: dict | None = None) -> None:
        i = app.instance
        if settings is None:
            settings = userdata.inspect(i.user_data).env
        imds = self.metadata.endpoint(self.endpoint, i.id)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(app.folder), "LANG": "C.UTF-8",
               "PYTHONPATH": str(app.folder / "app"), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "AWS_DEFAULT_REGION": i.region, "SETTINGS_FILE": str(app.folder / "settings.json"),
               "AWS_ENDPOINT_URL": self.endpoint, "IMDS_ENDPOINT": imds,
               "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds,
               # botocore asks EC2's metadata service once, with 1 s to answer; this one is a thread of a
               # sandbox that may share a busy machine, so the app waits longer before it has no credentials
               "AWS_METADATA_SERVICE_TIMEOUT": "5", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "3",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
               "INSTANCE_VCPUS": str(adapter.instance_vcpus(i.account, i.id))}  # the stress action burns as many
        env.update({k: v for k, v in settings.items() if k in APP_SETTINGS and v})
        app.port = _free_port()
        try:
            app.proc = self.launcher.launch({"app": str(app.folder / "app"), "folder": str(app.folder),
                                             "log": str(app.folder / "console.log"), "port": app.port, "env": env})
            app.listening = False
        except (OSError, ValueError) as exc:
            app.notes.append(f"the app could not be started: {exc}")
            app.proc, app.down_since = None, _utcnow()
            app.restart_at = time.monotonic() + RESTART_SECONDS
            return
        app.down_since = None

    def _stop(self, app: App) -> None:
        proc, app.proc = app.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the app and its stress workers
            proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_GRACE)
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        """Stop every app at once (SIGTERM to all, then wait): the sandbox is going down."""
        with self.lock:
            for app in self.apps.values():
                if app.proc is not None and app.proc.poll() is None:
                    try:
                        os.killpg(app.proc.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            for app in self.apps.values():
                self._stop(app)
            self.apps.clear()
            self.launcher.stop()

    # --- asked by other threads ---------------------------------------------------------------

    def settle(self, timeout: float = 2.0) -> None:
        """Wait (bounded) for a pass that started after now: what was just asked for is then acted on."""
        with self.lock:
            target = self.passes + 2
            self.wake.set()
            self.passed.wait_for(lambda: self.passes >= target, timeout)

    def app(self, account: str, instance_id: str) -> App | None:
        with self.lock:
            return self.apps.get((account, instance_id))

    def impaired(self, account: str, instance_id: str):
        """Since when this running instance's app is down (or True: none runs though it should), else None."""
        with self.lock:
            app = self.apps.get((account, instance_id))
            if app is not None:
                return app.down_since
            why = self.why_not.get((account, instance_id), "")
            return True if why.startswith("The app was not started") else None

    def console(self, account: str, instance_id: str) -> str | None:
        """What GetConsoleOutput shows: what the sandbox ran for this instance, or why nothing."""
        with self.lock:
            key = (account, instance_id)
            if key in self.why_not:
                return f"aws-bootcamp-labs sandbox: {self.why_not[key]}\n"
            app = self.apps.get(key)
            if app is None:
                return None
            lines = [f"aws-bootcamp-labs sandbox: {note}" for note in app.notes]
            try:
                tail = (app.folder / "console.log").read_bytes()[-4000:].decode("utf-8", "replace")
            except OSError:
                tail = ""
            return "\n".join(lines) + "\n" + tail
