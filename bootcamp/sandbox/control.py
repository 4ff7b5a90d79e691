"""Start, stop and inspect the embedded sandbox, a background process on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
from urllib.parse import urlsplit
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bootcamp.errors import SandboxError
from bootcamp.sandbox import SERVICE_NAME
from bootcamp.settings import Settings
from bootcamp.state import forget_app_settings

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


def _private_log(path: Path):
    """The sandbox log, appended to and readable by this user only (0600, an older 0644 one too)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def _health(port: int, timeout: float = 1.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/_bootcamp/health", timeout=timeout) as r:
            body = json.loads(r.read())
            return body if body.get("service") == SERVICE_NAME else {}
    except (urllib.error.URLError, OSError, ValueError):
        return None


PORT_RANGE_VARIABLE = "BOOTCAMP_PORT_RANGE"
_next_port: dict[str, int] = {}


def free_port() -> int:
    """A port nothing listens on now (for a sandbox of a test run or benchmark of its own).

    The kernel picks one, unless BOOTCAMP_PORT_RANGE (e.g. `21000-22999`) gives this process a
    block of its own: then ports are handed out from it in turn, each checked to be free. Test
    workers running side by side each get a block, so two of them never pick the same port
    between its choice and its use.
    """
    block = os.environ.get(PORT_RANGE_VARIABLE, "")
    if not block:
        with socket.socket() as s:
            s.bind((HOST, 0))
            return s.getsockname()[1]
    first, last = (int(n) for n in block.split("-", 1))
    for _ in range(last - first + 1):
        port = _next_port.get(block, first)
        _next_port[block] = first + (port + 1 - first) % (last - first + 1)
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise SandboxError(f"no free port left in {PORT_RANGE_VARIABLE}={block}")


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
    with _private_log(log) as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bootcamp.sandbox.server", "--host", HOST,
             "--port", str(settings.sandbox_port)],
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
    forget_app_settings(settings.home, "embedded")  # the buckets the app saved name what is gone
    return "sandbox reset: every account in it is empty"


def require_running(settings: Settings) -> Status:
    current = status(settings)
    if current.state != "running":
        raise SandboxError(current.line())
    return current


def stats(settings: Settings) -> dict:
    with urllib.request.urlopen(f"{endpoint(settings)}/_bootcamp/stats", timeout=5) as r:
        return json.loads(r.read())


def inject_faults(settings: Settings, count: int, code: str = "", account: str = "") -> None:
    """Make the next `count` AWS calls to the sandbox (of this account, if given) fail: throttled,
    or with this error code. A count of 0 clears them."""
    req = urllib.request.Request(f"{endpoint(settings)}/_bootcamp/faults", method="POST",
                                 data=json.dumps({"count": count, "code": code, "account": account}).encode())
    urllib.request.urlopen(req, timeout=5).read()


def local_http(url: str) -> bool:
    """Whether url is an http:// address on this machine: the only place a grade asks an app here."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    if parts.scheme != "http" or parts.username or parts.password:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def post_app(settings: Settings, body: dict, credentials: tuple[str, ...] | None = None) -> list[dict]:
    """One POST to the app registry, SigV4-signed as the sandbox wants it: by the account the
    entry names (its root unless credentials, (key, secret[, token]), of one of its IAM users are given)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key, secret, *token = credentials or (str(body.get("account", "")), SECRET)
    request = AWSRequest(method="POST", url=f"{endpoint(settings)}/_bootcamp/apps", data=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret, token[0] if token else None), "bootcamp", "us-east-1").add_auth(request)
    signed = urllib.request.Request(request.url, method="POST", data=request.body, headers=dict(request.headers))
    return _apps_call(settings, signed)


def register_app(settings: Settings, account: str, url: str, pid: int,
                 credentials: tuple[str, ...] | None = None) -> None:
    """Tell the sandbox that a copy of the web app serves this account at this URL (a grade asks)."""
    post_app(settings, {"account": account, "url": url, "pid": pid}, credentials)


def unregister_app(settings: Settings, account: str, url: str, credentials: tuple[str, ...] | None = None) -> None:
    """Withdraw a registered app; a sandbox that is already down has nothing to forget."""
    try:
        post_app(settings, {"account": account, "url": url, "remove": True}, credentials)
    except SandboxError:
        pass  # runs on exit, often after `invoke sandbox.down`


def registered_apps(settings: Settings, account: str) -> list[dict]:
    """The copies of the web app registered for this account: [{"account", "url", "pid"}, ...]."""
    query = urllib.parse.urlencode({"account": account})
    return _apps_call(settings, f"{endpoint(settings)}/_bootcamp/apps?{query}")


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
