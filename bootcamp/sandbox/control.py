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
from bootcamp.sandbox import SERVICE_NAME, token as control_token
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
            return (f"the sandbox (pid {self.pid}) at {where} has stopped (log: {self.log}): run "
                    "`invoke sandbox.up` (or `invoke lab.start N`), which brings back what was saved")
        if self.state == "foreign":
            return (f"port {self.port} is in use by another program, not the sandbox: stop it, or "
                    "pick another port with --port or BOOTCAMP_SANDBOX_PORT")
        return f"sandbox is down (port {self.port}): run `invoke sandbox.up`"


def endpoint(settings: Settings) -> str:
    return f"http://{HOST}:{settings.sandbox_port}"


def state_folder(settings: Settings, environ: dict | None = None) -> Path | None:
    """Where the sandbox keeps its lasting state; None when BOOTCAMP_SANDBOX_STATE=off (memory only)."""
    environ = os.environ if environ is None else environ
    if environ.get("BOOTCAMP_SANDBOX_STATE", "").lower() in ("off", "memory", "0", "no"):
        return None
    return settings.home / "sandbox" / "state"


def _token_file(settings: Settings) -> Path:
    return settings.home / "sandbox" / f"{settings.sandbox_port}.token"


def control_headers(settings: Settings) -> dict[str, str]:
    """The header that lets a control call through: the token the running sandbox wrote."""
    token = control_token.read(_token_file(settings))
    return {control_token.HEADER: token} if token else {}


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
    size = last - first + 1
    for _ in range(size):
        # In turn from a place of this process's own, so two runs on one machine (two checkouts'
        # workers with the same block) seldom meet on a port; up() also checks the answer is its own.
        port = _next_port.get(block, first + os.getpid() % size)
        _next_port[block] = first + (port + 1 - first) % size
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
    try:  # a sandbox this process started is a zombie until reaped, and a zombie answers signal 0
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
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


def up(settings: Settings, wait: float = 300.0, fresh: bool = False, env: dict | None = None) -> Status:
    """Start the sandbox unless it already runs, restoring its state; return its status.

    fresh: set the saved state aside (kept in state.refused-<time>/) and start empty.
    env: BOOTCAMP_SANDBOX_* settings for this server only, over the environment's.
    """
    from bootcamp import checks

    checks.home(settings.home)
    current = status(settings)
    if current.state in ("running", "foreign"):
        if current.state == "foreign":
            raise SandboxError(current.line())
        return current
    pidfile, log = _files(settings)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    environ = {**os.environ, **(env or {})}
    folder = state_folder(settings, environ)
    state = ["--state", str(folder)] if folder else []
    durability = environ.get("BOOTCAMP_SANDBOX_DURABILITY", "async")
    state += ["--durability", durability] if folder and durability in ("async", "sync") else []
    state += ["--fresh"] if fresh else []
    with _private_log(log) as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bootcamp.sandbox.server", "--host", HOST,
             "--port", str(settings.sandbox_port), "--token-file", str(_token_file(settings)),
             "--home", str(settings.home), *state],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**environ, "PYTHONUNBUFFERED": "1"})
    pidfile.write_text(str(proc.pid))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        health = _health(settings.sandbox_port)
        if health and health.get("pid") == proc.pid:  # ours, not another sandbox that took the port first
            return Status("running", settings.sandbox_port, proc.pid, log)
        if proc.poll() is not None:
            pidfile.unlink(missing_ok=True)
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise SandboxError(f"the sandbox did not start: {tail[0]} (log: {log})")
        time.sleep(0.1)
    raise SandboxError(f"the sandbox did not answer within {wait:.0f} s (log: {log})")


def _started_here(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _is_our_server(pid: int, port: int) -> bool:
    """pid is a sandbox server serving port (its command line says so), not another process."""
    if not Path("/proc/self").exists():  # no procfs (macOS): the pid file and the health answer agree
        return True
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"bootcamp.sandbox.server" in args and str(port).encode() in args


def down(settings: Settings) -> str:
    """Stop the sandbox this home started on this port, and nothing else."""
    pidfile, _ = _files(settings)
    current = status(settings)
    if current.state == "foreign":
        raise SandboxError(current.line())
    ours = _started_here(pidfile)
    if current.state == "running" and current.pid != ours:
        raise SandboxError(f"the sandbox at {endpoint(settings)} (pid {current.pid}) was not started from "
                           f"{settings.home}: stop it with the BOOTCAMP_HOME that started it")
    pid = ours if ours and _alive(ours) and _is_our_server(ours, settings.sandbox_port) else None
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return f"sandbox stopped (port {settings.sandbox_port})" if pid else "sandbox was not running"


def _state_call(settings: Settings, action: str, account: str | None = None, data: bytes | None = None,
                method: str = "POST", **query) -> bytes:
    """One call to the sandbox's /_bootcamp/state; its body, or SandboxError in the sandbox's words."""
    require_running(settings)
    params = urllib.parse.urlencode({k: v for k, v in {"account": account, **query}.items() if v})
    url = f"{endpoint(settings)}/_bootcamp/state{'/' + action if action else ''}{'?' + params if params else ''}"
    try:
        request = urllib.request.Request(url, method=method, data=data, headers=control_headers(settings))
        with urllib.request.urlopen(request, timeout=300) as r:
            return r.read()
    except urllib.error.HTTPError as exc:
        raise SandboxError(f"the sandbox refused: {_refusal(exc)}") from None


def _refusal(exc: urllib.error.HTTPError) -> str:
    """The sandbox's own words for a refused control call (its JSON "error"), else the HTTP reason."""
    try:
        return json.loads(exc.read()).get("error", exc.reason)
    except (ValueError, AttributeError):
        return exc.reason


def account_id(account: str | None) -> str | None:
    if account is not None and not (len(str(account)) == 12 and str(account).isdigit()):
        raise SandboxError(f"--account {account!r} is not a 12-digit account id")
    return account


def reset(settings: Settings, account: str | None = None) -> str:
    """Empty every account (or one) in memory and on disk; say what was removed."""
    removed = json.loads(_state_call(settings, "reset", account_id(account)))
    forget_app_settings(settings.home, "embedded", account)  # the buckets the app saved name what is gone
    return reset_line(removed, account)


def reset_line(removed: dict, account: str | None) -> str:
    accounts = removed.get("accounts", {})
    apps = f", {removed['apps']} registered app(s)" if removed.get("apps") else ""
    if account:
        what = ", ".join(accounts.get(account, [])) or "nothing"
        return f"sandbox reset: account {account} is empty (removed: {what}{apps})"
    return f"sandbox reset: every account is empty (removed {len(accounts)} account(s){apps})"


def flush(settings: Settings) -> dict:
    """Wait until every change the sandbox answered is on disk; its state's status then."""
    return json.loads(_state_call(settings, "flush"))


def state_status(settings: Settings) -> dict:
    return json.loads(_state_call(settings, "", method="GET"))


def state_line(state: dict) -> str:
    if not state.get("folder"):
        return "state: in memory only, lost when the sandbox stops (BOOTCAMP_SANDBOX_STATE=off)"
    pending = f", {state['pending']} change(s) being written" if state.get("pending") else ""
    return (f"state: {state['folder']} ({state['bytes'] / 1e6:.1f} MB, {len(state['accounts'])} account(s), "
            f"written {state['durability']}{pending})")


def saved_state_line(settings: Settings) -> str:
    """Where the state of a sandbox that is down waits, and its size (read from the disk)."""
    folder = state_folder(settings)
    if folder is None:
        return "state: off (BOOTCAMP_SANDBOX_STATE=off): the sandbox keeps nothing when it stops"
    files = list(folder.glob("accounts/*/*.state")) if folder.exists() else []
    accounts = {p.parent.name for p in files}
    size = sum(p.stat().st_size for p in files) / 1e6
    return f"state: {folder} ({size:.1f} MB, {len(accounts)} account(s)), restored by `invoke sandbox.up`"


def save(settings: Settings, path: Path, account: str | None = None) -> str:
    """Write the sandbox's state (or one account's) to a file."""
    data = _state_call(settings, "save", account_id(account), method="GET")
    path = Path(path)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise SandboxError(f"cannot write {path}: {exc.strerror}") from None
    return f"saved {'account ' + account if account else 'every account'} to {path} ({len(data) / 1e6:.1f} MB)"


def load(settings: Settings, path: Path, account: str | None = None) -> str:
    """Replace the accounts a saved state holds (or put its one account into --account)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SandboxError(f"cannot read {path}: {exc.strerror}") from None
    loaded = json.loads(_state_call(settings, "load", account_id(account), data=data, name=str(path)))
    return f"loaded {path} into account(s) {', '.join(loaded['accounts']) or 'none'}"


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
                                 headers=control_headers(settings),
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


APPS_TIMEOUT = 10.0  # seconds; the registry answers at once, but a busy machine may hold a thread that long


def _apps_call(settings: Settings, request: urllib.request.Request | str) -> list[dict]:
    """One call to the sandbox's app registry; its answer's entries, or SandboxError in one line."""
    try:
        with urllib.request.urlopen(request, timeout=APPS_TIMEOUT) as r:
            return json.loads(r.read())["apps"]
    except urllib.error.HTTPError as exc:
        raise SandboxError(f"the sandbox at {endpoint(settings)} refused the app registry call: "
                           f"{_refusal(exc)}") from None
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


KEYS_TIMEOUT = 30.0  # seconds: app.run waits for them once, as boto3 waited for AssumeRole


def instance_keys(settings: Settings, account: str, role: str) -> tuple[str, str, str]:
    """The keys of an account's role that EC2 may assume, as an instance profile gets them (the app
    `app.run` serves stands for the labs' instance): signed by the account's root, with the token."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=f"{endpoint(settings)}/_bootcamp/instance-keys",
                         data=json.dumps({"account": account, "role": role}).encode(),
                         headers={"Content-Type": "application/json", **control_headers(settings)})
    SigV4Auth(Credentials(account, SECRET), "bootcamp", "us-east-1").add_auth(request)
    signed = urllib.request.Request(request.url, method="POST", data=request.body, headers=dict(request.headers))
    try:
        with urllib.request.urlopen(signed, timeout=KEYS_TIMEOUT) as r:
            keys = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise SandboxError(f"the sandbox at {endpoint(settings)} gave no keys for role {role}: {_refusal(exc)}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SandboxError(f"the sandbox at {endpoint(settings)} does not answer ({getattr(exc, 'reason', exc)}): "
                           "run `invoke sandbox.up`") from None
    return keys["AccessKeyId"], keys["SecretAccessKey"], keys["Token"]


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
