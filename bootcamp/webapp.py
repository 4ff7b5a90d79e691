"""The Employee Directory app as the labs use it: its settings on each target, serving it here,
and finding and asking a running copy what it reports.

On a real account and on the sandbox (its data plane) the app runs on the lab's EC2 instance,
and a grade asks it there, at the instance's public address. On LocalStack no instance runs
anything, so the learner serves the app on this machine (`invoke app.run`); the copy announces
where it listens (in a file under the home; on the sandbox, to its registry), so that a grade
there can ask the app itself which bucket and table it uses.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.util import setup_testing_defaults

import botocore.exceptions as bx

from bootcamp import approle
from bootcamp.errors import BootcampError
from bootcamp.provision import error_code
from bootcamp.sandbox import control
from bootcamp.sandbox.control import local_http
from bootcamp.settings import Settings
from bootcamp.state import LabState, app_settings_file
from employee_directory.config import AppConfig

if TYPE_CHECKING:  # the app itself (and boto3 with it) is loaded only to serve it: a grade only asks
    from employee_directory.__main__ import ThreadingServer
    from employee_directory.web import App

BUCKET_LABS = ("4", "3")  # the labs whose saved state may name the photo bucket, latest first
ASK_TIMEOUT = 5.0
ANSWER_LIMIT = 1 << 20  # a directory of a few thousand employees


def settings_file(settings: Settings, target) -> Path:
    """Where the app run here keeps the bucket saved on its settings page, per target and account."""
    return app_settings_file(settings.home, target.name, target.account_id)


def app_env(settings: Settings, target, bucket: str | None = None) -> dict[str, str]:
    """The variables the app reads on EC2, filled in for this target and account."""
    env = {"AWS_DEFAULT_REGION": target.region, "SETTINGS_FILE": str(settings_file(settings, target))}
    if target.name == "embedded":
        key, secret, token = as_the_instance(settings, target) or (settings.sandbox_account, control.SECRET, "")
        env.update(AWS_ENDPOINT_URL=control.endpoint(settings), AWS_ACCESS_KEY_ID=key,
                   AWS_SECRET_ACCESS_KEY=secret, AWS_SESSION_TOKEN=token)
    elif target.name == "localstack":
        key, secret = target.credentials()
        env.update(AWS_ENDPOINT_URL=target.base_url, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    else:  # resolved here, so that --profile (and SSO) count
        keys = target.session().get_credentials().get_frozen_credentials()
        env.update(AWS_ACCESS_KEY_ID=keys.access_key, AWS_SECRET_ACCESS_KEY=keys.secret_key,
                   AWS_SESSION_TOKEN=keys.token or "")
    saved = (LabState(settings.home, target.name, target.account_id, lab).load().get("bucket") for lab in BUCKET_LABS)
    env["PHOTOS_BUCKET"] = bucket or os.environ.get("PHOTOS_BUCKET") or next((b for b in saved if b), "")
    return env


def as_the_instance(settings: Settings, target) -> tuple[str, str, str] | None:
    """On the sandbox, the keys of the role the labs' instance has (labs 3 and 4), or None.

    The app then runs with the role's permissions, as on EC2: a bucket outside the role's
    grants is "not reachable" here too. The role trusts only ec2.amazonaws.com, so no AssumeRole
    gets them (as on AWS): the sandbox hands them out as EC2's metadata service does. It judges
    those sessions by the role's policies (and does not expire them, so the app may run all day).
    """
    try:
        target.client("iam").get_role(RoleName=approle.ROLE)
    except bx.ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    return control.instance_keys(settings, target.account_id, approle.ROLE)


def identity(config: AppConfig, target) -> str:
    """Whose permissions the app uses, in a few words."""
    if target.name == "embedded":
        return f"role {approle.ROLE}" if config.session_token else "the account root"
    return "LocalStack's test keys" if target.name == "localstack" else "your AWS credentials"


def local_app(settings: Settings, target) -> App:
    """The app as a WSGI callable here (not served), e.g. to send it a form as lab.solve does."""
    from employee_directory.web import App

    return App(app_config(settings, target))


def app_config(settings: Settings, target, bucket: str | None = None) -> AppConfig:
    """The app's settings here; a bucket given (`app.run --bucket`) wins over one saved on its settings page."""
    config = AppConfig.from_env(app_env(settings, target, bucket))
    os.makedirs(os.path.dirname(config.settings_file), exist_ok=True)
    if bucket:  # the learner's latest word: the page may choose again while this copy runs
        Path(config.settings_file).unlink(missing_ok=True)
    return config


# --- where copies run here are announced -----------------------------------------------------

def _beacon(home: Path, target_name: str, account: str) -> Path:
    return home / "app" / f"{target_name}-{account}.serving.json"


def _read_beacon(path: Path) -> list[dict]:
    try:
        found = json.loads(path.read_text())
        return [a for a in found if isinstance(a, dict) and isinstance(a.get("url"), str)]
    except (OSError, ValueError, TypeError):
        return []


def announce(settings: Settings, target, url: str) -> None:
    """Say where this copy of the app serves the account, so a grade can ask it."""
    account = target.account_id
    if target.name == "embedded":
        control.register_app(settings, account, url, os.getpid(), target.credentials())
    elif target.name == "localstack":
        path = _beacon(settings.home, target.name, account)
        path.parent.mkdir(parents=True, exist_ok=True)
        others = [a for a in _read_beacon(path) if a["url"] != url]
        path.write_text(json.dumps([*others, {"account": account, "url": url, "pid": os.getpid()}]))


def withdraw(settings: Settings, target, url: str) -> None:
    account = target.account_id
    if target.name == "embedded":
        control.unregister_app(settings, account, url, target.credentials())
    elif target.name == "localstack":
        path = _beacon(settings.home, target.name, account)
        left = [a for a in _read_beacon(path) if a["url"] != url]
        if left:
            path.write_text(json.dumps(left))
        else:
            path.unlink(missing_ok=True)


def announced(target, home: Path | None) -> list[str]:
    """The URLs where copies of the app run here for the target's account (none on aws); only
    http:// addresses on this machine are asked, whatever a registry or a beacon file says."""
    if target.name == "embedded":
        found = control.registered_apps(target.settings, target.account_id)
    elif target.name == "localstack" and home is not None:
        found = _read_beacon(_beacon(home, target.name, target.account_id))
    else:
        found = []
    return [a["url"] for a in found if local_http(a["url"])]


# --- serving the app here --------------------------------------------------------------------

@dataclass
class Served:
    url: str
    server: ThreadingServer
    config: AppConfig


@contextmanager
def serving(settings: Settings, target, host: str = "127.0.0.1", port: int = 8080,
            bucket: str | None = None) -> Iterator[Served]:
    """The app bound to host:port (0: any free port) and announced; the caller runs its loop."""
    from employee_directory.__main__ import serve
    from employee_directory.web import App

    config = app_config(settings, target, bucket)
    try:
        server = serve(App(config), host, int(port))
    except OSError as exc:
        raise BootcampError(f"cannot serve on {host}:{port}: {exc.strerror}; pick another with --port") from None
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
    served = Served(f"http://{shown}:{server.server_port}", server, config)
    try:
        announce(settings, target, served.url)
        yield served
    finally:
        withdraw(settings, target, served.url)
        server.server_close()


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass  # a background copy's access log would interleave with the caller's output


@contextmanager
def in_background(served: Served) -> Iterator[Served]:
    """Serve requests on a thread while the caller goes on (tests, `lab.verify`), without an access log."""
    served.server.RequestHandlerClass = _Quiet
    thread = threading.Thread(target=served.server.serve_forever, name="employee-directory", daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        thread.join()


# --- asking a running copy -------------------------------------------------------------------

def ask(base_url: str, employees: bool = True) -> dict:
    """What the app at base_url reports: its settings and (unless not wanted) its employees, or why not."""
    answer = {"url": base_url, "status": None, "error": "", "settings": None, "employees": None,
              "employees_error": ""}
    answer["status"], settings, answer["error"] = _get(f"{base_url}/api/settings")
    if answer["error"]:
        return answer
    if not isinstance(settings, dict) or settings.get("app") != "employee-directory":
        answer["error"] = "the answer is not the Employee Directory app's settings"
        return answer
    answer["settings"] = settings
    if not employees:
        return answer
    _, employees, answer["employees_error"] = _get(f"{base_url}/api/employees")
    if not answer["employees_error"]:
        answer["employees"] = employees if isinstance(employees, list) else None
    return answer


class _LoopbackNames(http.client.HTTPConnection):
    """Sends *.localhost to 127.0.0.1, as curl and browsers do (RFC 6761): the system resolver may not."""

    def connect(self):
        host = "127.0.0.1" if self.host == "localhost" or self.host.endswith(".localhost") else self.host
        self.sock = socket.create_connection((host, self.port), self.timeout, self.source_address)


class _LoopbackHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_LoopbackNames, req)


_opener = urllib.request.build_opener(_LoopbackHandler)


def _get(url: str) -> tuple[int | None, object, str]:
    """(HTTP status, JSON body, '') or (status or None, None, why not)."""
    try:
        with _opener.open(url, timeout=ASK_TIMEOUT) as response:
            return response.status, json.loads(response.read(ANSWER_LIMIT)), ""
    except urllib.error.HTTPError as exc:
        return exc.code, None, f"HTTP {exc.code}: {exc.read(300).decode('utf-8', 'replace').strip()}"
    except (urllib.error.URLError, OSError) as exc:
        return None, None, str(getattr(exc, "reason", exc))
    except ValueError:
        return None, None, "the answer is not JSON"


def fetch(url: str, timeout: float = ASK_TIMEOUT) -> dict:
    """One GET, read to the end, redirects not followed: {"status", "headers" (lower-case names), "size", "error"}
    (a cache in front of the app tells in its headers whether it answered itself: lab 5's CloudFront)."""
    request = urllib.request.Request(url, headers={"User-Agent": "aws-bootcamp-labs"})
    try:
        with _no_redirects.open(request, timeout=timeout) as response:
            size = len(response.read())
            return {"status": response.status, "headers": {k.lower(): v for k, v in response.headers.items()},
                    "size": size, "error": ""}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "headers": {k.lower(): v for k, v in exc.headers.items()}, "size": 0,
                "error": f"HTTP {exc.code}"}
    except (urllib.error.URLError, OSError) as exc:
        return {"status": None, "headers": {}, "size": 0, "error": str(getattr(exc, "reason", exc))}


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 3xx answer is the answer


_no_redirects = urllib.request.build_opener(_LoopbackHandler, _KeepRedirects)


# --- where a learner opens the app they built ------------------------------------------------

APP_INSTANCE = "Web Application"  # the instance labs 2 and 3 serve the app from
LOAD_BALANCER = "Web-Application-ALB"  # lab 4's


def lab_app_url(target, lab_id: str, app_port: int) -> str:
    """The URL a browser on this machine opens the learner's app at: lab 2 and 3 the instance, lab 4 the
    load balancer. BootcampError, in one line with what to do, when there is nothing to open."""
    if lab_id in ("2", "3"):
        pages = target.client("ec2").get_paginator("describe_instances").paginate(Filters=[
            {"Name": "tag:Name", "Values": [APP_INSTANCE]}, {"Name": "instance-state-name", "Values": ["running"]}])
        found = [i for page in pages for r in page["Reservations"] for i in r["Instances"] if i.get("PublicIpAddress")]
        if not found:
            raise BootcampError(f"no running instance named {APP_INSTANCE} with a public IPv4 address in "
                                f"{target.describe()}: launch it (step 2.6) or start it, then run this again")
        url = target.public_url(found[0]["PublicIpAddress"])
        if url is None:
            raise BootcampError(f"the {target.name} target runs no instances: serve the app here with "
                                f"`invoke app.run`, then open http://127.0.0.1:{app_port}/")
        return url + "/"
    if lab_id == "4":
        if target.balancer_url("x") is None:
            raise BootcampError(f"the {target.name} target runs no load balancers: use --target embedded "
                                "(the sandbox) or --target aws")
        found = [b for b in target.client("elbv2").describe_load_balancers()["LoadBalancers"]
                 if b["LoadBalancerName"] == LOAD_BALANCER]
        if not found:
            raise BootcampError(f"no load balancer {LOAD_BALANCER} in {target.describe()}: create it (step 4.2)")
        return target.balancer_url(found[0]["DNSName"]) + "/"
    raise BootcampError(f"lab {lab_id} has no web app to open: labs 2 to 5 do")


# --- using the app as a learner does (lab.solve) ---------------------------------------------

def submit(where: App | str, path: str, fields: dict[str, str]) -> None:
    """Send one of the app's forms, as a browser does: to an App here, or to a URL; a refusal is an error."""
    body = urlencode(fields).encode()
    kind = "application/x-www-form-urlencoded"
    if isinstance(where, str):
        request = urllib.request.Request(where + path, data=body, method="POST", headers={"Content-Type": kind})
        try:
            with _opener.open(request, timeout=ASK_TIMEOUT * 4) as response:
                status, text = response.status, ""
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read(300).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise BootcampError(f"the app at {where} does not answer ({getattr(exc, 'reason', exc)})") from None
    else:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_TYPE": kind,
                   "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
        setup_testing_defaults(environ)
        answer = {}
        text = b"".join(where(environ, lambda status, headers: answer.update(status=status))).decode()
        status = int(answer["status"].split()[0])
    if status >= 400:
        raise BootcampError(f"the app refused {path} ({status}): {' '.join(str(text).split())[:200]}")


def wait_until_up(url: str, minutes: float = 6.0, pause: float = 10.0) -> None:
    """Wait for a new instance's app to answer (on AWS the user data takes a minute or two)."""
    deadline = time.monotonic() + minutes * 60
    while True:
        status, _, error = _get(f"{url}/api/settings")
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise BootcampError(f"the app at {url} does not answer after {minutes:g} minutes ({error or status}): "
                                "check the instance's system log, then run this again")
        time.sleep(pause)
