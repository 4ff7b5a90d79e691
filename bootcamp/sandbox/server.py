"""The embedded sandbox: moto's AWS API server with the extensions the labs need.

Run as `python -m bootcamp.sandbox.server --port 4599`. Extensions over plain moto:

- accounts: an access key id of 12 digits is the root user of that account (the
  LocalStack convention), so every learner can have an account of their own;
- IAM is enforced for IAM principals (IAM users' keys and assumed-role sessions) and
  never for account roots, as on AWS; any other key id (one the sandbox did not issue, an
  Inactive or a deleted key) is refused as AWS refuses it: see `key_refusal`; an unsigned
  request is anonymous, allowed only to read an object a bucket policy makes public (see
  `bootcamp.sandbox.anonymous`);
- AWS managed policies (AmazonEC2ReadOnlyAccess, ...) exist in every account, as copies
  sharing one set of documents (see `codec.share_aws_managed_policies`);
- AssumeRole of a role whose trust policy has an `sts:ExternalId` condition is judged
  by that trust policy, as AWS does (moto would let anyone assume any role): see
  `trust_refusal`; IAM checks use IAM's names for S3 actions moto names otherwise
  (HeadBucket is s3:ListBucket), and a role's inline policies from CloudFormation
  are kept as JSON;
- a new S3 bucket has all four Block Public Access settings on, as on AWS since April
  2023, and while its BlockPublicPolicy is on a public bucket policy is refused with
  AccessDenied: see `block_public_access_by_default` and `refuse_public_policies`;
- control calls (`/_bootcamp/faults`, `/_bootcamp/state`, `/moto-api/*`) need the token the
  sandbox writes to its home (see `bootcamp.sandbox.token`);
- `/_bootcamp/health`, `/_bootcamp/stats` (requests per account and service) and
  `/_bootcamp/faults` (the next N requests, of one account if "account" is given, answer an
  error: throttling by default, or the code given, e.g. ExpiredToken; see `faults`);
- `/_bootcamp/apps`: where `invoke app.run` serves the web app for an account (GET, with
  an optional ?account=; POST {account, url, pid} registers, {account, url, remove: true}
  removes; a POST must be SigV4-signed by that account, and the url be http:// on this
  machine), so that a grade finds it;
- state that lasts (see `bootcamp.sandbox.store`): with --state DIR every account is restored
  on start and every change written back; `/_bootcamp/state` (GET: where, size, pending;
  POST flush, reset [?account=], save [?account=], load [?account=]);
- for lab 4 (see `bootcamp.sandbox.lab4_apis`): Auto Scaling notification configurations
  (moto answers HTTP 500), CreateLaunchTemplateVersion with SourceVersion inheriting that
  version's data, the network interfaces a launch makes deleted with their instance, and a
  group's DefaultInstanceWarmup and a scaling policy's Enabled kept (moto drops both);
- where moto answers otherwise than AWS (see `bootcamp.sandbox.fidelity`): EC2 dry runs judged
  and never run, a root's caller identity, an instance's groups from its network interface,
  InvalidTarget for a target that is no instance, and an Inactive access key refused;
- speed: connections kept open between a client's calls (`bootcamp.sandbox.keepalive`);
  moto's per-request routing lookups done once, a request's raw URL worked out once, S3's
  host-or-path addressing decided once per host and request ids drawn in one call
  (`bootcamp.sandbox.dispatch`); `--no-speedups` serves as before, for bench/sandbox_speed.py
  and tests/test_sandbox_speedups.py (the same bytes either way).
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
from pathlib import Path
from urllib.parse import parse_qs

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto import __version__ as moto_version  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
from moto.core.exceptions import AccessDeniedError, JsonRESTError  # noqa: E402
from moto.s3.exceptions import S3ClientError  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

from bootcamp.sandbox import SERVICE_NAME  # noqa: E402
from bootcamp.redact import redact_log_line  # noqa: E402
from bootcamp.sandbox import anonymous, codec, dispatch, fidelity, lab4_apis, state_api  # noqa: E402
from bootcamp.sandbox import token as control_token  # noqa: E402
from bootcamp.sandbox.control import local_http  # noqa: E402
from bootcamp.sandbox.faults import Faults, wanted as faults_wanted  # noqa: E402
from bootcamp.sandbox.keepalive import KeepAliveHandler  # noqa: E402
from bootcamp.sandbox.store import StateRefused, Store  # noqa: E402
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


def issued_key(access_key: str):
    """(account, key) of the account whose IAM issued this key (a user's or an assumed role's), if any."""
    from moto.iam.models import iam_backends

    # Only partitions already made: making one loads every AWS managed policy into it,
    # which is why moto's own lookup (all partitions of all accounts) is not used.
    for account_id, account in list(iam_backends.items()):
        for backend in list(dict.values(account)):
            if access_key in backend.access_keys:
                return account_id, backend.access_keys[access_key]
    return None, None


def account_of_key(access_key: str) -> str | None:
    """The account whose IAM issued this key, if any."""
    return issued_key(access_key)[0]


def key_refusal(service: str, key: str, issued) -> tuple | None:
    """AWS's answer to a key it did not issue, or made Inactive, or deleted (None: the key is good),
    in the calling service's own words (see `fidelity.key_refusal`).

    An access key id of 12 digits is an account's root (the sandbox's convention); any other
    key must be one the sandbox's IAM issued and that is Active.
    """
    if not key or ROOT_KEY.match(key) or (issued is not None and getattr(issued, "status", "Active") == "Active"):
        return None
    return error_response(service, *fidelity.key_refusal(service))


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

    def __init__(self, app, store: Store | None = None, token: str | None = None):
        self.app = app
        self.store = store or Store(None)
        self.token = token  # control calls (faults, state, moto-api) must carry it
        self.lock = threading.Lock()
        self.requests: Counter = Counter()
        self.faults = Faults()
        self.apps: list[dict] = []  # {"account", "url", "pid"}: copies of the web app serving here
        self.dataplane = None  # bootcamp.sandbox.dataplane.DataPlane, set by main
        self.store.extension("apps", lambda: [dict(a) for a in self.apps], self._put_apps)

    def _put_apps(self, entries: list[dict]) -> None:
        with self.lock:
            self.apps = entries

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if self.dataplane is not None and self.dataplane.handles(environ):
            return self.dataplane.wsgi(environ, start_response)
        if control_token.refused(path, environ, self.token):
            return self.reply(start_response, 403, "application/json", json.dumps(
                {"error": f"a control call needs the {control_token.HEADER} header the sandbox wrote to its home"}))
        if path.startswith("/_bootcamp/"):
            return self.control(path, environ, start_response)
        key, service = signed_by(environ)
        account, issued = (key, None) if ROOT_KEY.match(key) else issued_key(key)
        if refusal := key_refusal(service, key, issued):
            return self.reply(start_response, *refusal)
        if not key:  # anonymous: only what a policy grants everyone
            account, refusal = anonymous.verdict(environ, error_response)
            if refusal:
                return self.reply(start_response, *refusal)
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = account or DEFAULT_ACCOUNT_ID
        with self.lock:
            self.requests[(environ["HTTP_X_MOTO_ACCOUNT_ID"], service or "unsigned")] += 1
        code = self.faults.take(environ["HTTP_X_MOTO_ACCOUNT_ID"])
        if code is not None:
            status = 400
            if not code:
                status, code = THROTTLE.get(service, (400, "ThrottlingException" if service in JSON_SERVICES else "Throttling"))
            return self.reply(start_response, *error_response(service, status, code, f"injected fault: {code}"))
        if service == "sts" and (why := trust_refusal(environ, key, account)):
            return self.reply(start_response, *error_response(service, 403, "AccessDenied", why))
        return self.store.serve(self.app, environ, start_response, environ["HTTP_X_MOTO_ACCOUNT_ID"])

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
            try:
                count, code, account = faults_wanted(json.loads(environ["wsgi.input"].read(size) or b"{}"))
            except ValueError as exc:  # JSONDecodeError too
                return self.reply(start_response, 400, "application/json", json.dumps({"error": str(exc)}))
            return self.reply_json(start_response, self.faults.inject(count, code, account))
        if path == "/_bootcamp/apps":
            return self.control_apps(environ, start_response)
        if path.startswith("/_bootcamp/state"):
            return self.reply(start_response, *state_api.answer(self.store, path, environ))
        return self.reply(start_response, 404, "application/json", json.dumps({"error": "not found"}))

    def control_apps(self, environ, start_response):
        """The app registry: GET lists (?account= filters), POST registers or removes one entry."""
        method = environ.get("REQUEST_METHOD")
        if method == "GET":
            account = parse_qs(environ.get("QUERY_STRING", "")).get("account", [""])[0]
            with self.lock:
                found = [dict(a) for a in self.apps if not account or a["account"] == account]
            return self.reply_json(start_response, {"apps": found})
        if method != "POST":
            return self.reply(start_response, 405, "application/json",
                              json.dumps({"error": "use GET or POST"}))
        try:
            entry, remove = app_entry(environ)
        except ValueError as exc:
            return self.reply(start_response, 400, "application/json", json.dumps({"error": str(exc)}))
        if (why := registration_refusal(environ, entry["account"])):
            return self.reply(start_response, 403, "application/json", json.dumps({"error": why}))
        with self.lock:
            self.apps = [a for a in self.apps
                         if (a["account"], a["url"]) != (entry["account"], entry["url"])]
            if not remove:
                self.apps.append(entry)
            found = [dict(a) for a in self.apps if a["account"] == entry["account"]]
        self.store.extension_changed("apps")
        return self.reply_json(start_response, {"apps": found})

    @staticmethod
    def reply(start_response, status, content_type, body):
        reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                  405: "Method Not Allowed", 409: "Conflict", 503: "Service Unavailable"}.get(status, "Error")
        data = body if isinstance(body, bytes) else body.encode()
        start_response(f"{status} {reason}", [("Content-Type", content_type),
                                              ("Content-Length", str(len(data)))])
        return [data]

    def reply_json(self, start_response, payload):
        return self.reply(start_response, 200, "application/json", json.dumps(payload))


def app_entry(environ) -> tuple[dict, bool]:
    """The registry entry a POST to /_bootcamp/apps names, and whether it asks to remove it.

    Raises ValueError, in words for the caller, when the body is not that JSON object.
    """
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        wanted = json.loads(environ["wsgi.input"].read(size) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(wanted, dict):
        raise ValueError('the body must be a JSON object: {"account", "url", "pid"} or {"account", "url", "remove": true}')
    account, url, pid = wanted.get("account"), wanted.get("url"), wanted.get("pid")
    remove = wanted.get("remove") is True
    if not isinstance(account, str) or not ROOT_KEY.match(account):
        raise ValueError("'account' must be a 12-digit account id")
    if not isinstance(url, str) or not local_http(url):
        raise ValueError("'url' must be the app's http:// address on this machine (127.0.0.1, localhost or [::1])")
    if not remove and (not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0):
        raise ValueError("'pid' must be a positive integer (or give \"remove\": true)")
    return {"account": account, "url": url, "pid": pid}, remove


def registration_refusal(environ, account: str) -> str | None:
    """Why this app registration is refused: it must be SigV4-signed by that account's credentials
    (its root, or an access key of one of its IAM users), as `control.register_app` signs it."""
    key, _ = signed_by(environ)
    if not key:
        return f"sign the registration with account {account}'s credentials (AWS Signature Version 4)"
    owner = key if ROOT_KEY.match(key) else account_of_key(key)
    if owner != account or fidelity.inactive_key(key, owner):
        return f"the registration is not signed by account {account}'s credentials"
    return None


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


def block_public_access_by_default() -> None:
    """Give every new S3 bucket all four Block Public Access settings, as AWS has since April 2023.

    moto makes buckets with none, so GetPublicAccessBlock answers NoSuchPublicAccessBlockConfiguration
    where AWS answers four trues, and a lab that teaches turning them off would have nothing to
    turn off. Only a newly made bucket is changed: Put/DeletePublicAccessBlock work as before.
    """
    from moto.s3.models import PublicAccessBlock, S3Backend

    create = S3Backend.create_bucket
    if getattr(create, "blocks_public_access", False):
        return

    def create_bucket(self, *args, **kwargs):
        bucket = create(self, *args, **kwargs)
        bucket.public_access_block = PublicAccessBlock(True, True, True, True)
        return bucket

    create_bucket.blocks_public_access = True
    S3Backend.create_bucket = create_bucket


def _grants_everyone(statement) -> bool:
    """Whether one bucket policy statement is public by this sandbox's approximation of AWS's rules.

    Public: an Allow whose Principal is "*", or names "*" for a principal type ({"AWS": "*"},
    {"AWS": ["*"]}), or is a list holding "*", and that has no Condition. AWS reads conditions
    (a statement limited by aws:SourceIp to a few addresses, say, is not public, while one
    limited to 0.0.0.0/0 still is); here any Condition makes a statement not public.
    """
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or statement.get("Condition"):
        return False
    named = statement.get("Principal")
    values = list(named.values()) if isinstance(named, dict) else [named]
    return any("*" in _listed(v) for v in values)


class PublicPolicyBlocked(S3ClientError):
    def __init__(self) -> None:
        super().__init__("AccessDenied", "This policy grants access to everyone, and public policies are "
                                         "blocked by the bucket's BlockPublicPolicy block public access setting.")


def refuse_public_policies() -> None:
    """Refuse PutBucketPolicy with a public policy while the bucket's BlockPublicPolicy is on, as AWS does.

    moto stores any policy. With Block Public Access on by default (see
    `block_public_access_by_default`), a learner who makes a bucket public must first turn
    BlockPublicPolicy off, as on AWS. Which policies are public: see `_grants_everyone`. A
    policy that is not JSON is left to moto.
    """
    from moto.s3.models import S3Backend

    put = S3Backend.put_bucket_policy
    if getattr(put, "refuses_public", False):
        return

    def put_bucket_policy(self, bucket_name, policy):
        block = self.get_bucket(bucket_name).public_access_block
        if block is not None and block.block_public_policy:
            try:
                statements = json.loads(policy).get("Statement", [])
            except (ValueError, TypeError, AttributeError):
                statements = []  # not a JSON object: moto's own answer stands
            if any(_grants_everyone(s) for s in _listed(statements)):
                raise PublicPolicyBlocked()
        return put(self, bucket_name, policy)

    put_bucket_policy.refuses_public = True
    S3Backend.put_bucket_policy = put_bucket_policy


def _dynamodb_table_arn(request, region: str) -> str | None:
    """The table a DynamoDB call names, as the resource IAM judges it by (moto judges "*").

    Without it, a policy that grants dynamodb:Scan on one table, as the labs' app role does,
    refuses every scan.
    """
    body = request.body
    try:
        table = (body if isinstance(body, dict) else json.loads(body or "{}")).get("TableName")
    except (ValueError, TypeError, AttributeError):
        return None
    if not isinstance(table, str) or not table:
        return None
    return f"arn:aws:dynamodb:{region}:{request.current_account}:table/{table}"


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
        signed = CREDENTIAL.search(self.headers.get("Authorization", ""))
        service = signed.group(3) if signed else ""
        if iam_request_cls.__name__ == "S3IAMRequest":
            action = MOTO_S3_ACTIONS.get(action, action)
        elif resource == "*" and service == "dynamodb":
            resource = _dynamodb_table_arn(self, signed.group(2)) or resource
        request = iam_request_cls(
            account_id=self.current_account, method=self.method,
            path=f"{path}?{query}" if query else path, data=self.data, body=self.raw_body,
            headers=self.headers, action=action)
        request.check_signature()
        try:
            request.check_action_permitted(resource)
        except AccessDeniedError as exc:
            # moto answers in XML; a JSON-protocol SDK (DynamoDB, ...) would not read the reason.
            if service in JSON_SERVICES:
                raise JsonRESTError("AccessDeniedException", exc.message) from None
            raise

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize


def build_app(store: Store | None = None, speedups: bool = True) -> Sandbox:
    enforce_iam_for_principals()
    keep_inline_policies_as_json()
    block_public_access_by_default()
    refuse_public_policies()
    lab4_apis.autoscaling_notification_configurations()
    lab4_apis.launch_template_versions_from_a_source()
    lab4_apis.launched_interfaces_deleted_on_termination()
    lab4_apis.group_warmup_and_policy_switch_kept()
    fidelity.apply()
    codec.share_aws_managed_policies()
    if not speedups:
        return Sandbox(DomainDispatcherApplication(create_backend_app), store)
    dispatch.remember_action_names()
    dispatch.remember_raw_urls()
    dispatch.remember_s3_addressing()
    dispatch.quicker_request_ids()
    return Sandbox(dispatch.CachedDispatcher(create_backend_app), store)


class _RedactedLog:
    """Request log lines that keep no credentials (a presigned URL carries them)."""

    def log(self, type: str, message: str, *args) -> None:
        super().log(type, "%s", redact_log_line(message % args if args else message))


class RequestHandler(_RedactedLog, KeepAliveHandler):
    """The sandbox's handler: connections kept open, log lines without credentials."""


class PlainRequestHandler(_RedactedLog, MotoRequestHandler):
    """moto's own handler (one connection per request), for `--no-speedups`."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the AWS Bootcamp Labs sandbox.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=4599, help="TCP port to listen on")
    parser.add_argument("--no-speedups", dest="speedups", action="store_false",
                        help="serve as before bootcamp.sandbox.dispatch and .keepalive (for bench/sandbox_speed.py)")
    parser.add_argument("--state", type=Path, help="folder of the lasting state (default: memory only)")
    parser.add_argument("--durability", choices=("async", "sync"), default="async",
                        help="async: on disk within a fraction of a second; sync: before each answer")
    parser.add_argument("--fresh", action="store_true", help="set the state aside and start empty")
    parser.add_argument("--token-file", type=Path, help="write a control token here (mode 0600) and require it")
    parser.add_argument("--home", default=os.environ.get("BOOTCAMP_HOME", os.path.expanduser("~/.aws-bootcamp")),
                        help="the project's home: the data plane keeps its instances' files under it")
    parser.add_argument("--no-dataplane", action="store_true", help="run no instances (the API only)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    store = Store(args.state, args.durability)
    app = build_app(store, args.speedups)
    if args.token_file:
        app.token = control_token.write(args.token_file)
    try:
        print(f"sandbox: {store.open(args.fresh)}", flush=True)
    except StateRefused as exc:
        print(f"sandbox: refused {exc}; nothing was changed: start with --fresh to set the state aside "
              "and start empty", file=sys.stderr, flush=True)
        sys.exit(4)
    try:
        server = make_server(args.host, args.port, app, threaded=True,
                             request_handler=RequestHandler if args.speedups else PlainRequestHandler)
    except OSError as exc:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        sys.exit(3)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if not args.no_dataplane:
        from bootcamp.sandbox.dataplane import DataPlane

        app.dataplane = DataPlane(args.home, f"http://{args.host}:{args.port}", store=store)
        app.dataplane.start()
    print(f"sandbox: serving on http://{args.host}:{args.port} (moto {moto_version})", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if app.dataplane is not None:
            app.dataplane.stop()
    store.wait(timeout=30)  # what was answered reaches the disk before the process ends
    sys.stdout.flush()
    os._exit(0)  # skip collecting moto's heap at exit, which takes seconds: nothing is left to save


if __name__ == "__main__":
    main()
