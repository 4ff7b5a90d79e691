"""The embedded sandbox: moto's AWS API server with the extensions the labs need.

Run as `python -m bootcamp.sandbox.server --port 4599`. Extensions over plain moto:

- accounts: an access key id of 12 digits is the root user of that account (the
  LocalStack convention), so every learner can have an account of their own;
- IAM is enforced for IAM principals (IAM users' keys and assumed-role sessions) and
  never for account roots, as on AWS; an unknown AKIA/ASIA key is refused;
- AWS managed policies (AmazonEC2ReadOnlyAccess, ...) exist in every account;
- `/_bootcamp/health`, `/_bootcamp/stats` (requests per account and service) and
  `/_bootcamp/faults` (the next N requests answer an error: throttling by default, or
  the code given, e.g. ExpiredToken; for testing retries and error lines).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from collections import Counter

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto import __version__ as moto_version  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

from bootcamp.sandbox import SERVICE_NAME  # noqa: E402
ROOT_KEY = re.compile(r"^\d{12}$")
AWS_KEY = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/")
QUERY_CREDENTIAL = re.compile(r"X-Amz-Credential=([^&%]+)(?:%2F|/)\d{8}(?:%2F|/)([^&%]+)(?:%2F|/)([^&%]+)")
JSON_SERVICES = {"dynamodb", "logs", "ssm", "kms", "events", "secretsmanager", "ecs", "sqs"}  # awsJson protocols


def signed_by(environ) -> tuple[str, str]:
    """The access key id and service name a request was signed with ('' when unsigned)."""
    found = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", "")) or QUERY_CREDENTIAL.search(
        environ.get("QUERY_STRING", ""))
    if not found:
        return "", ""
    return found.group(1), found.group(3)


def account_of_key(access_key: str) -> str | None:
    """The account whose IAM issued this key (a user's or an assumed role's), if any."""
    from moto.iam.models import iam_backends

    # Only partitions already made: making one loads every AWS managed policy into it,
    # which is why moto's own lookup (all partitions of all accounts) is not used.
    for account_id, account in list(iam_backends.items()):
        for backend in list(account.values()):
            if access_key in backend.access_keys:
                return account_id
    return None


def error_response(service: str, status: int, code: str, message: str):
    """An error body in the protocol the calling SDK parses for that service."""
    if service in JSON_SERVICES:
        return status, "application/x-amz-json-1.0", json.dumps({"__type": code, "message": message})
    if service == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                "</Error></Errors><RequestID>bootcamp</RequestID></Response>")
    elif service == "s3":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>bootcamp</RequestId></ErrorResponse>")
    return status, "text/xml", body


THROTTLE = {"ec2": (503, "RequestLimitExceeded"), "s3": (503, "SlowDown")}


class Sandbox:
    """WSGI middleware in front of moto: accounts by key, control endpoints, faults."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.requests: Counter = Counter()
        self.fault_left = 0
        self.fault_code = ""  # "" means throttling, in the calling service's own words

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bootcamp/"):
            return self.control(path, environ, start_response)
        key, service = signed_by(environ)
        account = key if ROOT_KEY.match(key) else account_of_key(key)
        if account is None and AWS_KEY.match(key):
            return self.reply(start_response, *error_response(
                service, 403, "InvalidClientTokenId",
                "The security token included in the request is invalid."))
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = account or DEFAULT_ACCOUNT_ID
        with self.lock:
            self.requests[(environ["HTTP_X_MOTO_ACCOUNT_ID"], service or "unsigned")] += 1
            faulty, code = self.fault_left > 0, self.fault_code
            if faulty:
                self.fault_left -= 1
        if faulty:
            status = 400
            if not code:
                status, code = THROTTLE.get(service, (400, "ThrottlingException" if service in JSON_SERVICES else "Throttling"))
            return self.reply(start_response, *error_response(service, status, code, f"injected fault: {code}"))
        return self.app(environ, start_response)

    def control(self, path, environ, start_response):
        if path == "/_bootcamp/health":
            return self.reply_json(start_response, {"service": SERVICE_NAME, "pid": os.getpid(),
                                                    "moto": moto_version})
        if path == "/_bootcamp/stats":
            with self.lock:
                rows = [{"account": a, "service": s, "requests": n} for (a, s), n in self.requests.items()]
                total = sum(self.requests.values())
            return self.reply_json(start_response, {"total": total, "by_account_service": rows})
        if path == "/_bootcamp/faults" and environ.get("REQUEST_METHOD") == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            wanted = json.loads(environ["wsgi.input"].read(size) or b"{}")
            with self.lock:
                self.fault_left = int(wanted.get("count", 0))
                self.fault_code = str(wanted.get("code", ""))
            return self.reply_json(start_response, {"count": self.fault_left, "code": self.fault_code})
        return self.reply(start_response, 404, "application/json", json.dumps({"error": "not found"}))

    @staticmethod
    def reply(start_response, status, content_type, body):
        reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                  503: "Service Unavailable"}.get(status, "Error")
        data = body.encode()
        start_response(f"{status} {reason}", [("Content-Type", content_type),
                                              ("Content-Length", str(len(data)))])
        return [data]

    def reply_json(self, start_response, payload):
        return self.reply(start_response, 200, "application/json", json.dumps(payload))


def enforce_iam_for_principals() -> None:
    """Make moto check IAM on every call signed by an IAM principal, and on no other.

    moto's own switch (INITIAL_NO_AUTH_ACTION_COUNT) is one global flag; AWS decides per
    caller: an account's root may do anything, an IAM user only what its policies allow.
    """

    def authorize(self, iam_request_cls, resource="*"):
        if account_of_key(self.get_access_key()) is None:
            return  # an account root, which may do anything
        path = self.raw_path
        query = self.uri.split("?", 1)[1] if "?" in self.uri else ""
        request = iam_request_cls(
            account_id=self.current_account, method=self.method,
            path=f"{path}?{query}" if query else path, data=self.data, body=self.raw_body,
            headers=self.headers, action=self._get_action())
        request.check_signature()
        request.check_action_permitted(resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize


def build_app() -> Sandbox:
    enforce_iam_for_principals()
    return Sandbox(DomainDispatcherApplication(create_backend_app))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the AWS Bootcamp Labs sandbox.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=4599, help="TCP port to listen on")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    try:
        server = make_server(args.host, args.port, build_app(), threaded=True,
                             request_handler=MotoRequestHandler)
    except OSError as exc:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        sys.exit(3)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"sandbox: serving on http://{args.host}:{args.port} (moto {moto_version})", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
