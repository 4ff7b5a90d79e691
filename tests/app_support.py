"""Helpers for tests/test_app.py: plain HTTP, multipart bodies, an IMDS double, a Python 3.9 check."""

from __future__ import annotations

import ast
import http.client
import http.server
import json
import os
import signal
import subprocess
import time
import uuid
from urllib.parse import urlencode, urlsplit


class Reply:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


class Client:
    """Plain HTTP to the app: redirects are answers to look at, not to follow. A *.localhost name
    (an instance's public DNS name on the sandbox) goes to 127.0.0.1, as curl and browsers send it."""

    def __init__(self, base: str):
        self.base = base
        self.host, self.port = urlsplit(base).hostname, urlsplit(base).port

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Reply:
        loopback = self.host.endswith(".localhost")
        conn = http.client.HTTPConnection("127.0.0.1" if loopback else self.host, self.port, timeout=30)
        named = {"Host": f"{self.host}:{self.port}"} if loopback else {}
        try:
            conn.request(method, path, body=body, headers={**named, **(headers or {})})
            answer = conn.getresponse()
            return Reply(answer.status, answer.headers, answer.read())
        finally:
            conn.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, fields: dict | None = None, files: dict | None = None) -> Reply:
        if files is None:
            return self.request("POST", path, urlencode(fields or {}).encode(),
                                {"Content-Type": "application/x-www-form-urlencoded"})
        body, kind = multipart(fields or {}, files)
        return self.request("POST", path, body, {"Content-Type": kind})


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    """A body as browsers send it: file names raw UTF-8 in filename="..."."""
    boundary = f"----form{uuid.uuid4().hex}"
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, (filename, kind, data) in files.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {kind}\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class FakeImds(http.server.BaseHTTPRequestHandler):
    """A test double for IMDS: mode "v1" refuses the token PUT, mode "v2" demands the token, mode "late"
    is "v2" that fails its first three requests (as a busy sandbox's may not answer in time)."""

    mode = "v1"
    seen: list = []

    def do_PUT(self):
        self.seen.append(("PUT", self.path, self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")))
        if self.mode == "v1":
            return self.answer(403, "")
        if self.mode == "late" and len(self.seen) <= 3:
            return self.answer(503, "")
        self.answer(200, "tok-123")

    def do_GET(self):
        self.seen.append(("GET", self.path, self.headers.get("X-aws-ec2-metadata-token")))
        if self.mode == "late" and len(self.seen) <= 3:
            return self.answer(503, "")
        if self.mode in ("v2", "late") and self.headers.get("X-aws-ec2-metadata-token") != "tok-123":
            return self.answer(401, "")
        values = {"/latest/meta-data/placement/availability-zone": "us-west-2b",
                  "/latest/meta-data/instance-id": "i-0123456789abcdef0"}
        self.answer(200, values[self.path]) if self.path in values else self.answer(404, "")

    def answer(self, status, text):
        self.send_response(status)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args):
        pass


NEWER_THAN_39 = {  # names and keywords that Python 3.10+ brought, which 3.9 fails on at run time
    "names": {"tomllib", "pairwise", "TaskGroup", "ExceptionGroup", "BaseExceptionGroup", "StrEnum", "Self",
              "TypeAlias", "ParamSpec", "TypeGuard", "Concatenate", "anext", "aiter", "chdir", "UTC", "override",
              "batched", "LiteralString", "Never", "assert_never", "reveal_type"},
    "keywords": {"strict", "slots", "kw_only", "match_args"},
}
RUNTIME_TYPES = {"str", "int", "float", "bytes", "bool", "dict", "list", "tuple", "set"}


def annotation_nodes(tree: ast.AST) -> set[int]:
    """Every node inside an annotation, where `from __future__ import annotations` makes X | Y a string."""
    roots = [n.annotation for n in ast.walk(tree) if isinstance(n, (ast.arg, ast.AnnAssign)) and n.annotation]
    roots += [n.returns for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.returns]
    return {id(node) for root in roots for node in ast.walk(root)}


def is_type(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and node.value is None) or getattr(node, "id", "") in RUNTIME_TYPES


def py39_problems(source: str) -> list[str]:
    """What in `source` Python 3.9 cannot run."""
    try:
        tree = ast.parse(source, feature_version=(3, 9))
    except SyntaxError as exc:
        return [f"syntax: {exc.msg} (line {exc.lineno})"]
    problems = [] if "from __future__ import annotations" in source else ["no `from __future__ import annotations`"]
    in_annotations = annotation_nodes(tree)
    for node in ast.walk(tree):
        name = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "name", None)
        if isinstance(node, (ast.Name, ast.Attribute, ast.alias)) and name in NEWER_THAN_39["names"]:
            problems.append(f"{name} is newer than Python 3.9")
        if isinstance(node, ast.keyword) and node.arg in NEWER_THAN_39["keywords"]:
            problems.append(f"line {node.value.lineno}: keyword {node.arg}= is newer than Python 3.9")
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and id(node) not in in_annotations
                and (is_type(node.left) or is_type(node.right))):
            problems.append(f"line {node.lineno}: X | Y outside an annotation")
    return problems


def clean_env() -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOOTCAMP_", "LOCALSTACK_", "PYTHON"))}
    return {**base, "AWS_EC2_METADATA_DISABLED": "true"}


class running:
    """A server process for the length of a `with`: waits for /health, then SIGTERM."""

    def __init__(self, argv, env, cwd, port):
        self.argv, self.env, self.cwd, self.port = argv, env, cwd, port

    def __enter__(self) -> Client:
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        client = Client(f"http://127.0.0.1:{self.port}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if client.get("/health").text == "ok":
                    return client
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        raise AssertionError(f"the app did not start: {self.proc.communicate()}")

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        self.out, self.err = self.proc.communicate(timeout=30)
        self.code = self.proc.returncode
