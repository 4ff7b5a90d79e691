"""Start, stop and inspect the embedded sandbox, a background process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bootcamp.errors import SandboxError
from bootcamp.sandbox import SERVICE_NAME
from bootcamp.settings import Settings

HOST = "127.0.0.1"
SECRET = "sandbox"  # the sandbox checks no root secret; this only fills the variable


@dataclass
class Status:
    state: str  # "running", "down", "died", "foreign"
    port: int
    pid: int | None = None
    log: Path | None = None

    def line(self) -> str:
        where = f"http://{HOST}:{self.port}"
        if self.state == "running":
            return f"sandbox running at {where} (pid {self.pid})"
        if self.state == "died":
            return (f"the sandbox (pid {self.pid}) at {where} has stopped; everything in it is "
                    f"lost (log: {self.log}): run `invoke sandbox.up`, then `invoke lab.start N` again")
        if self.state == "foreign":
            return (f"port {self.port} is in use by another program, not the sandbox: stop it, or "
                    "pick another port with --port or BOOTCAMP_SANDBOX_PORT")
        return f"sandbox is down (port {self.port}): run `invoke sandbox.up`"


def endpoint(settings: Settings) -> str:
    return f"http://{HOST}:{settings.sandbox_port}"


def _files(settings: Settings) -> tuple[Path, Path]:
    base = settings.home / "sandbox"
    return base / f"{settings.sandbox_port}.pid", base / f"{settings.sandbox_port}.log"


def _health(port: int, timeout: float = 1.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/_bootcamp/health", timeout=timeout) as r:
            body = json.loads(r.read())
            return body if body.get("service") == SERVICE_NAME else {}
    except (urllib.error.URLError, OSError, ValueError):
        return None


def free_port() -> int:
    """A port nothing listens on now (for a sandbox of a test run or benchmark of its own)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status(settings: Settings) -> Status:
    pidfile, log = _files(settings)
    port = settings.sandbox_port
    health = _health(port)
    if health:
        return Status("running", port, health.get("pid"), log)
    if health is not None or _port_taken(port):
        return Status("foreign", port)
    if pidfile.exists():
        pid = int(pidfile.read_text().strip() or 0)
        return Status("died", port, pid, log)
    return Status("down", port)


def up(settings: Settings, wait: float = 30.0) -> Status:
    """Start the sandbox unless it already runs; return its status."""
    current = status(settings)
    if current.state in ("running", "foreign"):
        if current.state == "foreign":
            raise SandboxError(current.line())
        return current
    pidfile, log = _files(settings)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bootcamp.sandbox.server", "--host", HOST,
             "--port", str(settings.sandbox_port), "--home", str(settings.home)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    pidfile.write_text(str(proc.pid))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if _health(settings.sandbox_port):
            return Status("running", settings.sandbox_port, proc.pid, log)
        if proc.poll() is not None:
            pidfile.unlink(missing_ok=True)
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise SandboxError(f"the sandbox did not start: {tail[0]} (log: {log})")
        time.sleep(0.1)
    raise SandboxError(f"the sandbox did not answer within {wait:.0f} s (log: {log})")


def down(settings: Settings) -> str:
    pidfile, _ = _files(settings)
    current = status(settings)
    if current.state == "foreign":
        raise SandboxError(current.line())
    pid = current.pid or (int(pidfile.read_text()) if pidfile.exists() else None)
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return f"sandbox stopped (port {settings.sandbox_port})" if pid else "sandbox was not running"


def reset(settings: Settings) -> str:
    require_running(settings)
    req = urllib.request.Request(f"{endpoint(settings)}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=30).read()
    return "sandbox reset: every account in it is empty"


def require_running(settings: Settings) -> Status:
    current = status(settings)
    if current.state != "running":
        raise SandboxError(current.line())
    return current


def stats(settings: Settings) -> dict:
    with urllib.request.urlopen(f"{endpoint(settings)}/_bootcamp/stats", timeout=5) as r:
        return json.loads(r.read())


def inject_faults(settings: Settings, count: int, code: str = "") -> None:
    """Make the next `count` AWS calls to the sandbox fail: throttled, or with this error code."""
    req = urllib.request.Request(f"{endpoint(settings)}/_bootcamp/faults", method="POST",
                                 data=json.dumps({"count": count, "code": code}).encode())
    urllib.request.urlopen(req, timeout=5).read()


APPS_TIMEOUT = 2.0  # seconds: app.run asks on start and on exit, a grade before it reads


def _apps_call(settings: Settings, request: urllib.request.Request | str) -> list[dict]:
    """One call to the sandbox's app registry; its answer's entries, or SandboxError in one line."""
    try:
        with urllib.request.urlopen(request, timeout=APPS_TIMEOUT) as r:
            return json.loads(r.read())["apps"]
    except urllib.error.HTTPError as exc:
        try:
            why = json.loads(exc.read()).get("error", exc.reason)
        except (ValueError, AttributeError):
            why = exc.reason
        raise SandboxError(f"the sandbox at {endpoint(settings)} refused the app registry call: {why}") from None
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        why = getattr(exc, "reason", exc)
        raise SandboxError(f"the sandbox at {endpoint(settings)} does not answer ({why}): "
                           "run `invoke sandbox.up`") from None


def _post_app(settings: Settings, body: dict) -> list[dict]:
    request = urllib.request.Request(f"{endpoint(settings)}/_bootcamp/apps", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    return _apps_call(settings, request)


def register_app(settings: Settings, account: str, url: str, pid: int) -> None:
    """Tell the sandbox that a copy of the web app serves this account at this URL (a grade asks)."""
    _post_app(settings, {"account": account, "url": url, "pid": pid})


def unregister_app(settings: Settings, account: str, url: str) -> None:
    """Withdraw a registered app; a sandbox that is already down has nothing to forget."""
    try:
        _post_app(settings, {"account": account, "url": url, "remove": True})
    except SandboxError:
        pass  # runs on exit, often after `invoke sandbox.down`


def registered_apps(settings: Settings, account: str) -> list[dict]:
    """The copies of the web app registered for this account: [{"account", "url", "pid"}, ...]."""
    query = urllib.parse.urlencode({"account": account})
    return _apps_call(settings, f"{endpoint(settings)}/_bootcamp/apps?{query}")


def running_apps(settings: Settings, account: str = "") -> list[dict]:
    """The apps the sandbox's instances run: [{"account", "region", "instance", "port", "pid", "restarts"}]."""
    query = urllib.parse.urlencode({"account": account})
    with urllib.request.urlopen(f"{endpoint(settings)}/_bootcamp/dataplane?{query}", timeout=APPS_TIMEOUT) as r:
        return json.loads(r.read())["apps"]


def env_exports(settings: Settings, region: str) -> str:
    """Shell lines that point the AWS CLI and boto3 at the sandbox."""
    lines = [
        "unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN",
        f"export AWS_ENDPOINT_URL={endpoint(settings)}",
        f"export AWS_ACCESS_KEY_ID={settings.sandbox_account}",
        f"export AWS_SECRET_ACCESS_KEY={SECRET}",
        f"export AWS_DEFAULT_REGION={region}",
        f"export AWS_REGION={region}",
        "export BOOTCAMP_TARGET=embedded",
    ]
    return "\n".join(lines)
