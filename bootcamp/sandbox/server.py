"""The embedded sandbox: moto's AWS API server with the extensions the labs need.

Run as `python -m bootcamp.sandbox.server --port 4599`. Extensions over plain moto:

- accounts: an access key id of 12 digits is the root user of that account (the
  LocalStack convention), so every learner can have an account of their own;
- IAM is enforced for IAM principals (IAM users' keys and assumed-role sessions) and
  never for account roots, as on AWS; an unknown AKIA/ASIA key is refused;
- AWS managed policies (AmazonEC2ReadOnlyAccess, ...) exist in every account;
- AssumeRole of a role whose trust policy has an `sts:ExternalId` condition is judged
  by that trust policy, as AWS does (moto would let anyone assume any role): see
  `trust_refusal`; IAM checks use IAM's names for S3 actions moto names otherwise
  (HeadBucket is s3:ListBucket), and a role's inline policies from CloudFormation
  are kept as JSON;
- `/_bootcamp/health`, `/_bootcamp/stats` (requests per account and service) and
  `/_bootcamp/faults` (the next N requests answer an error: throttling by default, or
  the code given, e.g. ExpiredToken; for testing retries and error lines).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import sys
import threading
from collections import Counter
from urllib.parse import parse_qs

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
        if service == "sts" and (why := trust_refusal(environ, key, account)):
            return self.reply(start_response, *error_response(service, 403, "AccessDenied", why))
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


def _request_params(environ) -> dict[str, str]:
    """A query-protocol request's parameters; the body is read and put back for moto."""
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if environ.get("REQUEST_METHOD") == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        params.update(parse_qs(body.decode("utf-8", "replace")))
    return {k: v[0] for k, v in params.items()}


ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/")


def _like(pattern: str, value: str) -> bool:
    """IAM's wildcard match: * is any run of characters, ? any one."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), value) is not None


TRUST_OPERATORS = {"StringEquals": lambda want, got: got == want, "StringLike": _like}


def trust_refusal(environ, key: str, account: str | None) -> str | None:
    """Why AWS would refuse this STS call, when it assumes a role whose trust policy names an external id.

    moto hands out credentials for any role to anyone; AWS checks the role's trust policy.
    Here, when a trust policy has an sts:ExternalId condition, the caller must match an Allow
    statement for sts:AssumeRole: its principal ("*", the caller's account id or
    arn:aws:iam::ACCOUNT:root, or the calling IAM user's ARN) and every condition, each one
    StringEquals/StringLike on sts:ExternalId (any other condition is not met). Other roles
    are left to moto.
    """
    params = _request_params(environ)
    role_arn = params.get("RoleArn", "")
    found = ROLE_ARN.match(role_arn)
    if params.get("Action") != "AssumeRole" or not found:
        return None
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[found.group(1)]["aws"].get_role_by_arn(role_arn)
    except Exception:  # no such role: moto's own answer stands
        return None
    statements = json.loads(role.assume_role_policy_document).get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    if "sts:ExternalId" not in json.dumps([s.get("Condition", {}) for s in statements]):
        return None
    caller_account = account or DEFAULT_ACCOUNT_ID
    caller = f"arn:aws:iam::{caller_account}:root"
    if not ROOT_KEY.match(key):
        user = iam_backends[caller_account]["aws"].get_user_from_access_key_id(key)
        caller = user.arn if user else caller
    principals = {"*", caller_account, f"arn:aws:iam::{caller_account}:root", caller}
    if any(_admits(s, principals, params.get("ExternalId")) for s in statements):
        return None
    return f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _admits(statement: dict, principals: set[str], external_id: str | None) -> bool:
    """Whether one trust policy statement lets these principals assume the role with this external id."""
    named = statement.get("Principal", {})
    named = _listed(named.get("AWS", []) if isinstance(named, dict) else named)
    if (statement.get("Effect") != "Allow" or not principals.intersection(named)
            or not any(_like(a, "sts:AssumeRole") for a in _listed(statement.get("Action", [])))):
        return False
    for operator, pairs in statement.get("Condition", {}).items():
        for key, wanted in pairs.items():
            test = TRUST_OPERATORS.get(operator)
            if key != "sts:ExternalId" or test is None or external_id is None:
                return False
            if not any(test(w, external_id) for w in _listed(wanted)):
                return False
    return True


# IAM's names for the S3 actions moto's S3 names otherwise when it checks IAM.
MOTO_S3_ACTIONS = {"HeadBucket": "ListBucket", "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
                   "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
                   "DeletePublicAccessBlock": "PutBucketPublicAccessBlock"}


def keep_inline_policies_as_json() -> None:
    """moto keeps a CloudFormation role's inline policies as dicts: GetRolePolicy then answers a
    Python repr and every IAM check of that role's sessions fails. Keep JSON, as AWS does."""
    from moto.iam.models import Role

    put = Role.put_policy
    if getattr(put, "keeps_json", False):
        return

    def put_policy(self, policy_name, policy_json):
        put(self, policy_name, policy_json if isinstance(policy_json, str) else json.dumps(policy_json))

    put_policy.keeps_json = True
    Role.put_policy = put_policy


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
        action = self._get_action()
        if iam_request_cls.__name__ == "S3IAMRequest":
            action = MOTO_S3_ACTIONS.get(action, action)
        request = iam_request_cls(
            account_id=self.current_account, method=self.method,
            path=f"{path}?{query}" if query else path, data=self.data, body=self.raw_body,
            headers=self.headers, action=action)
        request.check_signature()
        request.check_action_permitted(resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize


def build_app() -> Sandbox:
    enforce_iam_for_principals()
    keep_inline_policies_as_json()
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
