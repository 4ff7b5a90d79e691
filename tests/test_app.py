"""The Employee Directory app over real HTTP, against the sandbox; and `invoke app.run`."""

from __future__ import annotations

import gzip
import http.server
import io
import json
import os
import re
import socket
import sys
import tarfile
import threading
import time
import urllib.request
import uuid
from wsgiref.simple_server import WSGIRequestHandler

import boto3
import pytest

import employee_directory
from bootcamp import webapp
from bootcamp.sandbox import control
from bootcamp.state import LabState
from bootcamp.targets import make_target
from bootcamp.webapp import app_env
from app_support import Client, FakeImds, clean_env, multipart, py39_problems, running
from bootcamp.sandbox.control import free_port
from conftest import ROOT, LabDriver, run_invoke, sandbox_env
from employee_directory import instance
from employee_directory.__main__ import serve
from employee_directory.config import AppConfig, bucket_problem
from employee_directory.forms import BadForm, parse_multipart, safe_filename
from employee_directory.web import App

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) + b"\r\n--not-a-boundary\r\n\n\r"  # line ends must survive


# --- helpers ---------------------------------------------------------------------------

def aws(settings, service: str):
    return boto3.client(service, endpoint_url=control.endpoint(settings), region_name="us-west-2",
                        aws_access_key_id=settings.sandbox_account, aws_secret_access_key=control.SECRET)


def photos(settings) -> str:
    """This test's bucket name: bucket names are global, across the sandbox's accounts too."""
    return f"employee-photo-bucket-{settings.sandbox_account}"


def make_bucket(settings, name: str | None = None) -> None:
    aws(settings, "s3").create_bucket(Bucket=name or photos(settings),
                                      CreateBucketConfiguration={"LocationConstraint": "us-west-2"})


def make_table(settings) -> None:
    aws(settings, "dynamodb").create_table(
        TableName="Employees", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


def items(settings) -> list[dict]:
    found = aws(settings, "dynamodb").scan(TableName="Employees")["Items"]
    return [{k: v["S"] for k, v in item.items()} for item in found]


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: refused at once


class RecordingHandler(WSGIRequestHandler):
    """The server's own handler, its access lines kept on the server for the test to read."""

    def log_message(self, format, *args):
        self.server.access.append(format % args)


@pytest.fixture
def start_app(settings, tmp_path):
    """Start the app in a thread, configured for this test's sandbox account; returns a Client."""
    servers = []

    def start(**env) -> Client:
        mapping = {**sandbox_env(settings), "PHOTOS_BUCKET": photos(settings),
                   "SETTINGS_FILE": str(tmp_path / "settings.json"), "IMDS_ENDPOINT": closed_url(), **env}
        server = serve(App(AppConfig.from_env({k: v for k, v in mapping.items() if v is not None})), "127.0.0.1", 0)
        server.RequestHandlerClass = RecordingHandler  # access lines into a list, not the terminal
        server.access = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        client = Client(f"http://127.0.0.1:{server.server_port}")
        client.access = server.access
        return client

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ready(settings, start_app) -> Client:
    """The app with its table and bucket in place."""
    make_bucket(settings)
    make_table(settings)
    return start_app()


def add(client: Client, name: str = "Ana Lopez", photo: tuple | None = ("face.png", "image/png", PNG), **fields):
    answer = client.post("/add", {"name": name, "email": "ana@example.com", "location": "Seoul", **fields},
                         {"photo": photo} if photo else {})
    assert answer.status == 303, answer.text
    assert answer.headers["Location"] == "/"
    return answer


# --- employees and photos ------------------------------------------------------------------

def test_add_with_an_uploaded_photo_writes_the_item_and_the_object(settings, ready):
    bucket = photos(settings)
    add(ready)
    [item] = items(settings)
    assert uuid.UUID(item["id"]).version == 4
    assert (item["name"], item["email"], item["location"]) == ("Ana Lopez", "ana@example.com", "Seoul")
    assert re.fullmatch(r"employee_pic/[0-9a-f]{32}-face\.png", item["photo"])
    stored = aws(settings, "s3").get_object(Bucket=bucket, Key=item["photo"])
    assert stored["Body"].read() == PNG and stored["ContentType"] == "image/png"
    page = ready.get("/")
    assert page.status == 200 and "Ana Lopez" in page.text and "Seoul" in page.text
    assert f"/edit/{item['id']}" in page.text and f"/delete/{item['id']}" in page.text
    assert "X-Amz-Signature=" in page.text and "not found" not in page.text
    assert ready.get("/api/employees").json() == [item]


def test_edit_changes_the_name_and_replaces_the_photo(settings, ready):
    bucket = photos(settings)
    add(ready)
    [before] = items(settings)
    form = ready.get(f"/edit/{before['id']}")
    assert form.status == 200 and 'value="Ana Lopez"' in form.text
    answer = ready.post(f"/edit/{before['id']}", {"name": "Ana Kim", "email": "ana@example.com", "location": "Busan"},
                        {"photo": ("new.jpg", "image/jpeg", b"\xff\xd8jpeg")})
    assert answer.status == 303
    [after] = items(settings)
    assert (after["id"], after["name"], after["location"]) == (before["id"], "Ana Kim", "Busan")
    assert after["photo"] != before["photo"] and after["photo"].endswith("-new.jpg")
    s3 = aws(settings, "s3")
    assert s3.get_object(Bucket=bucket, Key=after["photo"])["ContentType"] == "image/jpeg"
    assert s3.head_object(Bucket=bucket, Key=before["photo"])  # the old photo is kept


def test_edit_without_a_new_photo_keeps_the_old_one(settings, ready):
    add(ready)
    [before] = items(settings)
    ready.post(f"/edit/{before['id']}", {"name": "Ana Kim", "existing_photo": ""},
               {"photo": ("", "application/octet-stream", b"")})
    [after] = items(settings)
    assert after["photo"] == before["photo"] and after["name"] == "Ana Kim" and "email" not in after


def test_delete_removes_the_item_and_keeps_the_photo(settings, ready):
    bucket = photos(settings)
    add(ready)
    [item] = items(settings)
    answer = ready.post(f"/delete/{item['id']}")
    assert answer.status == 303 and answer.headers["Location"] == "/"
    assert items(settings) == []
    assert aws(settings, "s3").head_object(Bucket=bucket, Key=item["photo"])


def test_a_photo_already_in_the_bucket_can_be_chosen(settings, ready):
    bucket = photos(settings)
    aws(settings, "s3").put_object(Bucket=bucket, Key="samples/Mateo <b>.png", Body=PNG, ContentType="image/png")
    form = ready.get("/add")
    assert '<option value="samples/Mateo &lt;b&gt;.png">' in form.text
    add(ready, "Mateo", photo=None, existing_photo="samples/Mateo <b>.png")
    [item] = items(settings)
    assert item["photo"] == "samples/Mateo <b>.png"


def test_photo_redirects_to_a_presigned_url_that_downloads_it(settings, ready):
    add(ready)
    [item] = items(settings)
    answer = ready.get(f"/photo/{item['id']}")
    assert answer.status == 302
    url = answer.headers["Location"]
    assert url.startswith(control.endpoint(settings)) and "X-Amz-Expires=3600" in url
    with urllib.request.urlopen(url, timeout=10) as download:
        assert download.read() == PNG
    assert ready.get(f"/photo/{uuid.uuid4()}").status == 404


def test_names_are_escaped_in_html(settings, ready):
    add(ready, '<script>alert("x")</script>', photo=None)
    page = ready.get("/").text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "<script>" not in page


def test_a_form_without_a_name_is_refused_and_an_empty_file_ignored(settings, ready):
    answer = ready.post("/add", {"name": " "}, {})
    assert answer.status == 400 and "a name is required" in answer.text
    assert items(settings) == []
    add(ready, "Ana", photo=("empty.png", "image/png", b""))
    [item] = items(settings)
    assert item["name"] == "Ana" and "photo" not in item


def test_an_uploaded_file_name_loses_its_path_and_non_ascii(settings, ready):
    add(ready, photo=("C:\\Users\\José\\Fotó ñ 1.png", "image/png", PNG))
    [item] = items(settings)
    assert item["photo"].endswith("-Foto_n_1.png")


# --- table, bucket and settings ------------------------------------------------------------

def test_missing_table_and_bucket_are_reported_and_the_page_still_answers(settings, start_app):
    bucket = photos(settings)
    client = start_app()
    page = client.get("/")
    assert page.status == 200
    assert "table Employees not found" in page.text and f"bucket {bucket} not found" in page.text
    status = client.get("/api/settings").json()
    assert status["table"] == {"name": "Employees", "exists": False, "error": "table Employees not found in us-west-2"}
    assert status["bucket"] == {"name": bucket, "source": "env", "reachable": False,
                                "error": f"bucket {bucket} not found"}


def test_settings_json_when_everything_is_there(settings, ready):
    bucket = photos(settings)
    status = ready.get("/api/settings").json()
    assert status == {
        "app": "employee-directory", "version": employee_directory.__version__, "region": "us-west-2",
        "endpoint": control.endpoint(settings), "table": {"name": "Employees", "exists": True, "error": None},
        "bucket": {"name": bucket, "source": "env", "reachable": True, "error": None},
        "instance": {"availability_zone": None, "instance_id": None, "imds": None}}
    page = ready.get("/settings")
    assert page.status == 200 and bucket in page.text and "reachable" in page.text


def test_bucket_not_set(settings, start_app):
    make_table(settings)
    client = start_app(PHOTOS_BUCKET=None)
    assert "bucket not set" in client.get("/").text
    assert client.get("/api/settings").json()["bucket"] == {
        "name": None, "source": None, "reachable": False,
        "error": "bucket not set: set PHOTOS_BUCKET, or save one on the settings page"}
    answer = client.post("/add", {"name": "Ana"}, {"photo": ("a.png", "image/png", PNG)})
    assert answer.status == 502 and "no photo bucket is set" in answer.text


def test_the_bucket_saved_on_the_settings_page_overrides_the_env(settings, start_app, tmp_path):
    make_bucket(settings, f"other-{settings.sandbox_account}")
    client = start_app()
    answer = client.post("/settings", {"bucket": f"other-{settings.sandbox_account}"})
    assert answer.status == 303 and answer.headers["Location"] == "/settings"
    assert json.loads((tmp_path / "settings.json").read_text()) == {"bucket": f"other-{settings.sandbox_account}"}
    assert client.get("/api/settings").json()["bucket"] == {
        "name": f"other-{settings.sandbox_account}", "source": "settings", "reachable": True, "error": None}
    client.post("/settings", {"bucket": ""})  # empty: PHOTOS_BUCKET again
    assert client.get("/api/settings").json()["bucket"]["source"] == "env"


@pytest.mark.parametrize("name", ["Bad_Name", "ab", "a..b", "192.168.1.1", "-abc", "x" * 64])
def test_an_invalid_bucket_name_is_refused(start_app, tmp_path, name):
    client = start_app()
    answer = client.post("/settings", {"bucket": name})
    assert answer.status == 400 and "is not a valid bucket name" in answer.text
    assert not (tmp_path / "settings.json").exists()
    assert bucket_problem(name) and bucket_problem("employee-photo-bucket-ab-1234") is None


def test_unreachable_aws_breaks_no_page(start_app):
    client = start_app(AWS_ENDPOINT_URL=closed_url())
    assert client.get("/").status == 200
    status = client.get("/api/settings").json()
    assert "Could not connect" in status["table"]["error"] and status["bucket"]["reachable"] is False
    assert "Traceback" not in json.dumps(status)
    assert client.get("/api/employees").status == 502
    assert client.get("/add").status == 200


def test_health_and_one_access_line_per_request(start_app):
    client = start_app()
    answer = client.get("/health")
    assert (answer.status, answer.text) == (200, "ok")
    assert client.get("/nowhere").status == 404
    deadline = time.monotonic() + 10
    while len(client.access) < 2 and time.monotonic() < deadline:  # written just after the answer
        time.sleep(0.05)
    assert [line.split('"')[1:3] for line in client.access] == [["GET /health HTTP/1.1", " 200 2"],
                                                                ["GET /nowhere HTTP/1.1", " 404 9"]]


def test_config_from_a_mapping():
    config = AppConfig.from_env({"AWS_DEFAULT_REGION": "eu-west-1", "PHOTOS_BUCKET": "b-1234",
                                 "AWS_ENDPOINT_URL": "http://x:1", "IMDS_ENDPOINT": "http://i:2/",
                                 "EMPLOYEE_TABLE": "T", "SETTINGS_FILE": "/tmp/s.json", "AWS_ACCESS_KEY_ID": "AK",
                                 "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "TOKEN"})
    assert (config.region, config.bucket, config.endpoint, config.imds_endpoint, config.table,
            config.settings_file, config.access_key, config.secret_key, config.session_token) == (
        "eu-west-1", "b-1234", "http://x:1", "http://i:2/", "T", "/tmp/s.json", "AK", "SECRET", "TOKEN")
    assert "SECRET" not in repr(config) and "TOKEN" not in repr(config)
    empty = AppConfig.from_env({})
    assert (empty.region, empty.bucket, empty.endpoint, empty.table) == ("us-east-1", None, None, "Employees")
    assert empty.imds_endpoint == "http://169.254.169.254"


# --- multipart parsing -----------------------------------------------------------------------

def test_multipart_fields_files_and_exact_bytes():
    body, kind = multipart({"name": "Zoë", "email": ""}, {"photo": ("a.png", "image/png", PNG)})
    fields, files = parse_multipart(body, kind.split("boundary=")[1])
    assert fields == {"name": "Zoë", "email": ""}
    assert files == {"photo": ("a.png", "image/png", PNG)}


def test_multipart_no_file_and_empty_file():
    body, kind = multipart({"name": "A"}, {"photo": ("", "application/octet-stream", b""),
                                           "other": ("empty.txt", "text/plain", b"")})
    fields, files = parse_multipart(body, kind.split("boundary=")[1])
    assert fields == {"name": "A"} and files == {}  # no file chosen, or an empty one: nothing to store
    with pytest.raises(BadForm):
        parse_multipart(body, "another-boundary")


def test_multipart_file_names_with_paths_unicode_and_rfc2231():
    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="C:\\\\dir\\\\Ñandú.png"\r\n'
            f"Content-Type: image/png\r\n\r\n").encode() + PNG + (
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"doc\"; filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n"
        f"\r\nsummer\r\n--{boundary}--\r\n").encode()
    _, files = parse_multipart(body, boundary)
    assert files["photo"] == ("C:\\dir\\Ñandú.png", "image/png", PNG)
    assert files["doc"] == ("été.txt", "application/octet-stream", b"summer")
    assert safe_filename(files["photo"][0]) == "Nandu.png"
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("사진.png") == "png" and safe_filename("..") == "photo"


def test_a_multipart_body_without_its_boundary_is_a_bad_request(start_app):
    client = start_app()
    answer = client.request("POST", "/add", b"garbage", {"Content-Type": "multipart/form-data; boundary=zzz"})
    assert answer.status == 400 and "boundary" in answer.text


# --- instance metadata ---------------------------------------------------------------------------

@pytest.fixture
def fake_imds():
    def start(mode):
        handler = type("Imds", (FakeImds,), {"mode": mode, "seen": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}", handler.seen

    servers = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_imds_v2_with_its_token_else_v1(fake_imds, mode):
    endpoint, seen = fake_imds(mode)
    assert instance.metadata(endpoint) == {"availability_zone": "us-west-2b",
                                           "instance_id": "i-0123456789abcdef0", "imds": mode}
    assert seen[0] == ("PUT", "/latest/api/token", "300")
    token = "tok-123" if mode == "v2" else None
    assert {(method, header) for method, _, header in seen[1:]} == {("GET", token)}
    before = len(seen)
    instance.metadata(endpoint)
    assert len(seen) == before  # asked once per process


def test_an_imds_that_fails_at_first_is_asked_again_until_it_answers(fake_imds):
    """An app asks once as it starts; a first ask that fails (a busy sandbox's IMDS) is not its last word."""
    endpoint, seen = fake_imds("late")
    assert instance.metadata(endpoint, budget=30) == {"availability_zone": "us-west-2b",
                                                      "instance_id": "i-0123456789abcdef0", "imds": "v2"}
    assert [method for method, _, _ in seen[:4]] == ["PUT", "GET", "GET", "PUT"]  # three failed, then again


def test_imds_of_the_sandbox_and_off_ec2(sandbox, start_app):
    # The sandbox (moto) answers the token PUT, but a GET too, and never checks the token:
    # that is why the doubles above refuse what real IMDS refuses.
    with urllib.request.urlopen(control.endpoint(sandbox) + "/latest/api/token", timeout=10) as answer:
        assert answer.status == 200
    assert instance.metadata(control.endpoint(sandbox)) == {
        "availability_zone": "us-east-1a", "instance_id": "i-fake", "imds": "v2"}
    client = start_app(IMDS_ENDPOINT=control.endpoint(sandbox))
    assert client.get("/api/settings").json()["instance"]["availability_zone"] == "us-east-1a"
    assert "i-fake" in client.get("/settings").text
    assert instance.metadata(closed_url()) == {"availability_zone": None, "instance_id": None, "imds": None}


# --- stress ------------------------------------------------------------------------------------------

def test_stress_runs_once_at_a_time(start_app, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # one worker is enough to prove the point
    client = start_app()
    assert client.get("/api/stress").json() == {"running": False, "until": None}
    answer = client.post("/stress", {"seconds": "1"})
    assert answer.status == 303 and answer.headers["Location"] == "/"
    first = client.get("/api/stress").json()
    assert first["running"] is True and isinstance(first["until"], float)
    client.post("/stress", {"seconds": "1"})  # while one runs: no more workers, the same end
    assert client.get("/api/stress").json() == first
    assert instance.clamp(10**6) == 600 and instance.clamp(0) == 1


# --- what EC2 gets: Python 3.9, a small package -------------------------------------------------------

def test_the_package_is_python_3_9():
    found = {path: py39_problems(data.decode()) for path, data in employee_directory.package_files().items()}
    assert {path: p for path, p in found.items() if p} == {}
    assert len(found) >= 6 and "employee_directory/__main__.py" in found


@pytest.mark.parametrize("snippet", [
    "from __future__ import annotations\nmatch x:\n    case 1: pass\n",
    "from __future__ import annotations\nzip(a, b, strict=True)\n",
    "from __future__ import annotations\nimport tomllib\n",
    "from __future__ import annotations\nisinstance(x, int | None)\n",
    "from __future__ import annotations\n@dataclass(slots=True)\nclass A: pass\n",
    "x: int | None = None\n",
])
def test_the_3_9_check_catches_newer_code(snippet):
    assert py39_problems(snippet)


def test_the_package_fits_in_user_data():
    files = employee_directory.package_files()
    assert all(path.startswith("employee_directory/") and path.endswith(".py") for path in files)
    assert sum(len(data) for data in files.values()) < 40 * 1024
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    # User data is 16 KB in all: this much archive (base64, 4/3 of it) leaves its script about 1.8 KB.
    assert len(gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)) < 10.5 * 1024


def test_the_packaged_files_run_on_their_own(settings, tmp_path):
    """What EC2 does: unpack package_files() somewhere, `python -m employee_directory`."""
    bucket = photos(settings)
    for path, data in employee_directory.package_files().items():
        (tmp_path / "app" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "app" / path).write_bytes(data)
    port = free_port()
    env = {**clean_env(), **sandbox_env(settings), "PYTHONPATH": str(tmp_path / "app"), "PHOTOS_BUCKET": bucket,
           "SETTINGS_FILE": str(tmp_path / "s.json"), "IMDS_ENDPOINT": closed_url()}
    server = running([sys.executable, "-m", "employee_directory", "--host", "127.0.0.1", "--port", str(port)],
                     env, tmp_path, port)
    with server as client:
        status = client.get("/api/settings").json()
        assert status["bucket"]["error"] == f"bucket {bucket} not found"
        assert status["endpoint"] == control.endpoint(settings) and status["region"] == "us-west-2"
    assert f"serving on http://127.0.0.1:{port}" in server.err
    # The access log goes to stderr. A request's line is written after its answer, so the last
    # request's line may be cut off by the stop; the startup's /health checks were long before it.
    assert '"GET /health HTTP/1.1" 200' in server.err


# --- invoke app.run ----------------------------------------------------------------------------------

def test_app_run_serves_the_sandbox_account_with_the_labs_bucket(settings):
    bucket = photos(settings)
    LabState(settings.home, "embedded", settings.sandbox_account, "3").save({"bucket": bucket})
    make_bucket(settings)
    port = free_port()
    server = running([sys.executable, "-m", "invoke", "app.run", "--port", str(port)],
                     {**clean_env(), **sandbox_env(settings), "COLUMNS": "200"}, ROOT, port)
    with server as client:
        status = client.get("/api/settings").json()
        assert status["endpoint"] == control.endpoint(settings) and status["region"] == "us-west-2"
        assert status["bucket"] == {"name": bucket, "source": "env", "reachable": True, "error": None}
        assert status["table"]["exists"] is False
        [announced] = control.registered_apps(settings, settings.sandbox_account)  # so lab.grade can ask it
        assert announced["url"] == f"http://127.0.0.1:{port}" and announced["pid"] > 0
    assert server.code == 0, server.err
    assert control.registered_apps(settings, settings.sandbox_account) == []  # withdrawn when it stops
    lines = server.out.splitlines()
    assert lines[0].startswith(f"Employee Directory at http://127.0.0.1:{port} -> embedded sandbox")
    assert "as the account root" in lines[0]  # no lab made the instance's role in this account
    assert settings.sandbox_account in lines[0] and bucket in lines[0]
    assert lines[-1] == "Employee Directory stopped"


def test_app_run_takes_the_bucket_from_the_option_the_env_or_the_labs(settings, monkeypatch):
    target = make_target(settings)
    monkeypatch.delenv("PHOTOS_BUCKET", raising=False)
    assert app_env(settings, target, None)["PHOTOS_BUCKET"] == ""
    for lab in ("3", "4"):
        LabState(settings.home, "embedded", settings.sandbox_account, lab).save({"bucket": f"lab-{lab}-bucket"})
        assert app_env(settings, target, None)["PHOTOS_BUCKET"] == f"lab-{lab}-bucket"
    monkeypatch.setenv("PHOTOS_BUCKET", "env-bucket")
    assert app_env(settings, target, None)["PHOTOS_BUCKET"] == "env-bucket"
    env = app_env(settings, target, "option-bucket")
    assert env["PHOTOS_BUCKET"] == "option-bucket" and env["AWS_ACCESS_KEY_ID"] == settings.sandbox_account
    assert env["SETTINGS_FILE"].startswith(str(settings.home))


def test_app_run_bucket_wins_over_the_saved_one_and_lab_clean_forgets_what_the_app_saved(settings):
    target = make_target(settings)
    saved = webapp.settings_file(settings, target)
    saved.parent.mkdir(parents=True, exist_ok=True)
    AppConfig(settings_file=str(saved)).save_bucket("employee-photo-bucket-zz-0001")  # on the settings page
    with webapp.serving(settings, target, port=0, bucket="employee-photo-bucket-zz-0002") as app, \
            webapp.in_background(app):
        assert Client(app.url).get("/api/settings").json()["bucket"]["name"] == "employee-photo-bucket-zz-0002"
        Client(app.url).post("/settings", {"bucket": "employee-photo-bucket-zz-0003"})  # the page chooses again
        assert Client(app.url).get("/api/settings").json()["bucket"]["name"] == "employee-photo-bucket-zz-0003"
    LabDriver("3", settings).run("clean")
    assert not saved.exists()


def test_app_run_refuses_a_busy_port_in_one_line(settings):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run_invoke("app.run", "--port", str(port), env=sandbox_env(settings))
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1
    assert f"cannot serve on 127.0.0.1:{port}" in out.stderr and "--port" in out.stderr


def test_app_run_needs_the_sandbox(tmp_path):
    env = {"BOOTCAMP_HOME": str(tmp_path), "BOOTCAMP_SANDBOX_PORT": str(free_port())}
    out = run_invoke("app.run", "--port", str(free_port()), env=env)
    assert out.returncode == 2 and "sandbox is down" in out.stderr and "Traceback" not in out.stderr
