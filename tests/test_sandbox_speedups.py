"""The sandbox's speed-ups change no answer: the same calls get the same bytes with and without them.

A second sandbox runs with `--no-speedups` (moto's own routing, handler and per-request work);
both get the same calls in an account of the same number (new on both), and each answer's status, headers and
body must match once what differs between any two servers is masked: request ids, dates and the
ids moto draws at random (VPCs, IAM users and roles).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from bootcamp.sandbox import control

from conftest import ROOT

VOLATILE_HEADERS = {"x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "date", "last-modified",
                    "x-amz-crc32", "server",
                    "content-length", "x-amzn-crc32",  # of a body whose dates differ: the bodies are compared
                    "connection"}  # kept open by the speed-ups: the one intended difference
MASKS = [  # (pattern, stand-in): what differs between two servers for the same calls
    (re.compile(rb"<(requestId|RequestId)>[^<]*</\1>"), rb"<\1>?</\1>"),
    (re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"), b"DATE"),
    (re.compile(rb"\b((?:[a-z]+-)+)[0-9a-f]{8,17}\b"), rb"\1ID"),  # vpc-..., vpc-cidr-assoc-...
    (re.compile(rb"<(UserId|RoleId)>[^<]*</\1>"), rb"<\1>ID</\1>"),
    (re.compile(rb'"(CreationDateTime|LastUpdateToPayPerRequestDateTime)": ?[0-9.e+]+'), rb'"\1": 0'),
]

def _masked(body: bytes) -> bytes:
    for pattern, stand_in in MASKS:
        body = pattern.sub(stand_in, body)
    return body


@pytest.fixture(scope="module")
def plain_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("plain") / "sandbox.log"


@pytest.fixture(scope="module")
def plain_port(plain_log):
    """A sandbox without its speed-ups, on a free port, for this module (its log in `plain_log`)."""
    port = control.free_port()
    with plain_log.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bootcamp.sandbox.server", "--no-speedups", "--port", str(port)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while control._health(port) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "the --no-speedups sandbox did not start"
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _answers(port: int, account: str) -> list[tuple]:
    """The same calls as a learner's lab would make them; each answer's status, headers and body."""
    seen: list[tuple] = []

    def keep(http_response, model, **_):
        headers = {k.lower(): v for k, v in http_response.headers.items() if k.lower() not in VOLATILE_HEADERS}
        seen.append((model.name, http_response.status_code, headers, _masked(http_response.content)))

    def client(service):
        made = boto3.client(service, endpoint_url=f"http://{control.HOST}:{port}", region_name="us-east-1",
                            aws_access_key_id=account, aws_secret_access_key=control.SECRET,
                            config=Config(retries={"max_attempts": 1}))
        made.meta.events.register("after-call", keep)
        return made

    s3, ec2, iam, ddb = client("s3"), client("ec2"), client("iam"), client("dynamodb")
    s3.create_bucket(Bucket="same-bytes")
    s3.put_object(Bucket="same-bytes", Key="dir/a b.txt", Body=b"hello", ContentType="text/plain",
                  Metadata={"my_key": "v"})
    s3.head_bucket(Bucket="same-bytes")
    s3.get_object(Bucket="same-bytes", Key="dir/a b.txt")
    s3.head_object(Bucket="same-bytes", Key="dir/a b.txt")
    s3.list_objects_v2(Bucket="same-bytes", Prefix="dir/")
    s3.list_buckets()
    for wrong in (lambda: s3.get_object(Bucket="same-bytes", Key="missing"),
                  lambda: s3.head_bucket(Bucket="no-such-bucket-here")):
        with pytest.raises(Exception):
            wrong()
    ec2.describe_vpcs()
    for wrong in (lambda: ec2.describe_vpcs(VpcIds=["vpc-0123456789abcdef0"]),  # moto raises AWS errors
                  lambda: iam.get_user(UserName="nobody"),                       # as werkzeug exceptions
                  lambda: ddb.describe_table(TableName="none")):
        with pytest.raises(Exception):
            wrong()
    iam.create_user(UserName="same-bytes", Tags=[{"Key": "k", "Value": "v"}])
    for _ in range(2):  # a speed-up may take a second call's way: each call below is made twice
        iam.list_users()  # moto's answer leaves the tags out, as AWS does (a transformer of its serializer)
    iam.create_role(RoleName="same-bytes", AssumeRolePolicyDocument=json.dumps({  # its document URL-encoded
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    for _ in range(2):
        iam.get_role(RoleName="same-bytes")
    ddb.create_table(TableName="same", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="same", Item={"id": {"S": "1"}, "n": {"N": "2"}})
    ddb.scan(TableName="same")
    return seen


def test_speedups_answer_the_same_bytes(settings, plain_port):
    account = settings.sandbox_account  # fresh on both servers
    fast, plain = _answers(settings.sandbox_port, account), _answers(plain_port, account)
    assert [a[0] for a in fast] == [a[0] for a in plain]
    for got, wanted in zip(fast, plain):
        assert got == wanted, got[0]


# Requests of every shape the sandbox reads (the common one directly, the rest as werkzeug does), as raw bytes:
# a path with %-escapes, a query ending in "?", a path with "//", HTTP/1.0, a repeated header, a header
# with "_" (dropped from the environ), "Connection: close", a bad request line.
SHAPES = [
    b"GET /{bucket}/dir/a%20b.txt HTTP/1.1",
    b"GET /{bucket}/plain-key?list-type=2&prefix=a%2Fb HTTP/1.1",
    b"GET /{bucket}? HTTP/1.1",
    b"GET //{bucket}/double-slash HTTP/1.1",
    b"GET /{bucket}/old-http HTTP/1.0",
    b"GET /{bucket}/caf%C3%A9 HTTP/1.1\r\nX-Amz-Meta-Twice: 1\r\nX-Amz-Meta-Twice: 2\r\nMy_Header: x",
    b"PUT /{bucket}/put-me HTTP/1.1\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    b"GET /{bucket}/close HTTP/1.1\r\nConnection: close",
    b"GET /{bucket}/wrong HTTP/2.0",
]


def _raw(port: int, request: bytes) -> bytes:
    """One request on a connection of its own, read until the server closes it."""
    head, _, body = request.partition(b"\r\n\r\n")
    with socket.create_connection((control.HOST, port), timeout=30) as sock:
        sock.sendall(head + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _shape_of(answer: bytes) -> tuple:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *headers = head.split(b"\r\n")
    kept = sorted(h for h in headers if h.split(b":", 1)[0].lower().decode() not in VOLATILE_HEADERS)
    return status.replace(b"HTTP/1.0", b"HTTP/1.1"), kept, _masked(body)


def _log_lines(log: Path, bucket: str, colours: bytes = b"") -> list[str]:
    """The request lines of this test, without the date (and without `colours`, a pattern of terminal styles)."""
    text = re.sub(colours, b"", log.read_bytes()).decode(errors="replace") if colours else log.read_text(errors="replace")
    return [line.split("] ", 1)[1] for line in text.splitlines() if bucket in line]


def test_requests_of_every_shape_get_the_same_answers_and_log_lines(sandbox, plain_port, plain_log):
    """Unsigned, so each is refused as AWS refuses it (its key and path named in the error), by both servers
    alike; and each writes the same request log line on both (moto's own server, writing through logging,
    has the colours werkzeug gives a line stripped in a file; the sandbox makes none)."""
    bucket = f"shapes-{plain_port}"
    for shape in SHAPES:
        request = shape.replace(b"{bucket}", bucket.encode())
        fast, plain = _raw(sandbox.sandbox_port, request), _raw(plain_port, request)
        assert _shape_of(fast) == _shape_of(plain), request
    time.sleep(0.2)  # the servers write a line after they answer
    fast_log = _log_lines(sandbox.home / "sandbox" / f"{sandbox.sandbox_port}.log", bucket)
    assert fast_log == _log_lines(plain_log, bucket, colours=rb"\x1b\[[0-9;]*m") and len(fast_log) == len(SHAPES), \
        fast_log


class _Server:  # what a handler reads of its server
    server_address, ssl_context, multithread, multiprocess = ("127.0.0.1", 4599), None, True, False


def _environ_of(handler_class, request: bytes) -> dict | None:
    """The WSGI environ a handler makes of these request bytes (None: it refused the request)."""
    import io

    handler = object.__new__(handler_class)
    line, _, rest = request.partition(b"\r\n")
    handler.rfile, handler.wfile = io.BytesIO(rest.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"), io.BytesIO()
    handler.raw_requestline, handler.server = line + b"\r\n", _Server()
    handler.client_address, handler.connection, handler.request_version = ("127.0.0.1", 50000), None, "HTTP/0.9"
    handler.log_error = handler.log_message = lambda *args: None
    if not handler.parse_request():
        return None
    environ = handler.make_environ()
    return {k: v for k, v in environ.items() if k not in ("wsgi.input", "wsgi.errors", "werkzeug.socket")}


def test_the_environ_made_directly_is_werkzeugs_and_motos():
    from bootcamp.sandbox.server import PlainRequestHandler, RequestHandler

    for shape in SHAPES + [b"GET /a?b=1#fragment HTTP/1.1", b"GET /x%2Fy%ZZ HTTP/1.1\r\nHost: h\r\nHost: i",
                           b"GET http://127.0.0.1/absolute HTTP/1.1", b"GET /t\xc3\xa9 HTTP/1.1",
                           b"GET /chunked HTTP/1.1\r\nTransfer-Encoding: chunked"]:
        request = shape.replace(b"{bucket}", b"b")
        assert _environ_of(RequestHandler, request) == _environ_of(PlainRequestHandler, request), request


def _xml_documents() -> list:
    """Dicts of the shapes moto's serializer makes, then some it does not (left to xmltodict, which answers
    or raises as it would have); made anew for each use, as one holds a generator."""
    return [
        {"R": {"@xmlns": "http://ec2.amazonaws.com/doc/2016-11-15", "vpcSet": {"item": [{"vpcId": "vpc-1"}, {"x": "2"}]},
               "tagSet": "", "empty": [], "none": None, "n": 3, "t": True, "f": False, "b": b"bytes \xff"}},
        {"A": {"@id": 'say "hi" & it\'s <ok>\n\t\r', "@q": 'only "double"', "@s": "only 'single'", "@n": None,
               "@i": 7, "#text": "a < b & c > d", "child": ["x", None, {"#text": None}, {"#text": ""}, 5, [1, 2]]}},
        {"Mixed": {"#text": "after the children", "c": "1", "d": {"e": ""}, "tuple": ("one", "two"), "nothing": ()}},
        {"Wrapper": [{"only": "one"}]},
        {"Nothing": []}, {"OnlyAnEmptyTuple": {"t": ()}}, {"Texts": {"a": ["", "x & y", ""]}},
        {"Unicode": {"name": "caf\u00e9 \u2603", "attr": {"@v": "\u00e9"}}},
        {"Two": "roots", "Or": "more"}, {"Many": ["a", "b"]}, {}, {"#comment": "c", "R": "r"},
        {"R": {"bad name": "x"}}, {"R": {"@bad<attr": "x"}}, {"R": {"@xmlns": {"p": "urn:p"}}}, {"R": {5: "int key"}},
        {"R": {"gen": (x for x in "ab")}}, {"R": {"s": {"a"}}},
    ]


@pytest.mark.parametrize("full_document", [True, False])
@pytest.mark.parametrize("short_empty_elements", [True, False])
def test_xml_is_written_as_xmltodict_writes_it(full_document, short_empty_elements):
    import xmltodict

    from bootcamp.sandbox.answers import _Xmltodict

    def written(unparse, document):
        try:
            return unparse(document, full_document=full_document, short_empty_elements=short_empty_elements)
        except ValueError as exc:
            return f"ValueError: {exc}"

    for ours, theirs in zip(_xml_documents(), _xml_documents()):
        assert written(_Xmltodict.unparse, ours) == written(xmltodict.unparse, theirs), theirs
    assert _Xmltodict.unparse({"P": {"a": "1"}}, pretty=True) == xmltodict.unparse({"P": {"a": "1"}}, pretty=True)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_plain_answers_are_what_flask_answers(method):
    """moto's (status, headers, body) as the WSGI answer `_handled` makes of it directly, against Flask's
    Response: the same status line, header list and body; None where it leaves the answer to Flask."""
    from flask import Response

    from bootcamp.sandbox.dispatch import _plain_answer

    def wsgi(app):
        started = []
        body = b"".join(app({"REQUEST_METHOD": method, "wsgi.url_scheme": "http", "SERVER_NAME": "h",
                             "SERVER_PORT": "80", "PATH_INFO": "/"}, lambda status, headers: started.append(
                                 (status, [tuple(h) for h in headers]))))
        return started, body

    cases = [
        (200, {"Content-Type": "application/xml", "x-amzn-requestid": "r"}, "<a>caf\u00e9</a>"),
        (200, {}, b"bytes, no type"),
        (201, {"content-type": "text/xml", "Content-Type": "twice", "CONTENT-LENGTH": "9"}, "length replaced"),
        (200, {"content-length": "1234", "ETag": '"e"'}, ""),  # a HEAD's own length is kept
        (404, {"x-amz-id-2": "x"}, "not found"), (599, {}, "an unknown status"), (204, {}, ""), (304, {}, ""),
        ("200 OK", {}, "a text status"), (200, {"Location": "/caf\u00e9"}, ""), (200, {"x": "a\nb"}, "newline"),
        (200, {"n": 5}, "a number"), (200, {"multi": ["a", "b"]}, "a list"), (200, {}, iter([b"a", b"b"])),
        (200, [("List", "of pairs")], "headers as a list"), (100, {}, ""),
    ]
    direct_ones = 0
    for status, headers, content in cases:
        direct = _plain_answer(status, headers, content, method)
        if direct is None:
            continue
        direct_ones += 1
        response = Response(response=content, status=status, headers=headers)
        if method == "HEAD" and "content-length" in headers:  # as `_handled` does
            response.headers["Content-Length"] = headers["content-length"]
        assert wsgi(direct) == wsgi(response), (status, headers, content)
    assert direct_ones == 5
