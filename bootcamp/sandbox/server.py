"""The embedded sandbox: moto's AWS API server with the extensions the labs need.

Run as `python -m bootcamp.sandbox.server --port 4599`. Extensions over plain moto:

- accounts: an access key id of 12 digits is the root user of that account (the
  LocalStack convention), so every learner can have an account of their own;
- IAM is enforced for IAM principals (IAM users' keys and assumed-role sessions) and
  never for account roots, as on AWS; any other key id (one the sandbox did not issue, an
  Inactive or a deleted key) is refused as AWS refuses it: see `key_refusal`; an unsigned
  request is anonymous, allowed only to read an object a bucket policy makes public (see
  `bootcamp.sandbox.anonymous`);
- AWS managed policies (AmazonEC2ReadOnlyAccess, ...) exist in every account, and the public
  AMIs in every region, each one set that every account names (see `bootcamp.sandbox.shared`);
- accounts apart as on AWS (see `bootcamp.sandbox.authorize`): AssumeRole, by any caller, is
  judged by the role's trust policy (a role trusted only by ec2.amazonaws.com is assumed by
  no user and no root), and a call on another account's bucket or topic by its bucket or
  topic policy, on top of an IAM principal's own policies; IAM checks use IAM's names for S3
  actions moto names otherwise (HeadBucket is s3:ListBucket), and a role's inline policies
  from CloudFormation are kept as JSON;
- `/_bootcamp/instance-keys`: a role's keys for the app `invoke app.run` serves as the labs'
  instance, as EC2's metadata service gives them (POST {account, role}, signed by that account,
  with the control token; only for a role whose trust policy names ec2.amazonaws.com);
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
- for lab 5 (see `bootcamp.sandbox.lab5_apis`): CloudFront's managed and custom cache and origin
  request policies, distributions named under `.cloudfront.localhost` (answered by the data plane's
  CloudFront), ETags that updates and deletes must name, and no deleting an enabled distribution;
- iam:SimulatePrincipalPolicy and SimulateCustomPolicy, which moto lacks, judged as IAM judges
  (see `bootcamp.sandbox.simulator`); `/_bootcamp/stats` counts them per account;
- where moto answers otherwise than AWS (see `bootcamp.sandbox.fidelity`): EC2 dry runs judged
  and never run, a root's caller identity, an instance's groups from its network interface,
  InvalidTarget for a target that is no instance, and an Inactive access key refused;
- speed: connections kept open between a client's calls (`bootcamp.sandbox.keepalive`);
  moto's per-request routing lookups done once, a request's raw URL worked out once, S3's
  host-or-path addressing decided once per host, request ids drawn in one call and plain answers
  written without Flask (`bootcamp.sandbox.dispatch`); moto's serializer looking values up and
  writing XML directly (`bootcamp.sandbox.answers`); moto's Flask apps reading form data without
  Flask's debug aid and the request log written without Python's logging machinery.
  `--no-speedups` serves as before, for bench/sandbox_speed.py and tests/test_sandbox_speedups.py
  (the same bytes either way).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from bootcamp import models  # noqa: E402

models.share_in_process()  # before moto: its imports make a botocore session per service

from moto import __version__ as moto_version  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.s3.exceptions import S3ClientError  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

from bootcamp.sandbox import SERVICE_NAME  # noqa: E402
from bootcamp.redact import redact_log_line  # noqa: E402
from bootcamp.sandbox import anonymous, answers, authorize, dispatch, fidelity, lab4_apis, lab5_apis, shared, simulator, state_api  # noqa: E402
from bootcamp.sandbox.access import CREDENTIAL, JSON_SERVICES, QUERY_CREDENTIAL, ROOT_KEY, listed as _listed  # noqa: E402
from bootcamp.sandbox import token as control_token  # noqa: E402
from bootcamp.sandbox.control import local_http  # noqa: E402
from bootcamp.sandbox.faults import Faults, wanted as faults_wanted  # noqa: E402
from bootcamp.sandbox.keepalive import KeepAliveHandler  # noqa: E402
from bootcamp.sandbox.store import StateRefused, Store  # noqa: E402

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
        return self.store.serve(self.app, environ, start_response, environ["HTTP_X_MOTO_ACCOUNT_ID"])

    def control(self, path, environ, start_response):
        if path == "/_bootcamp/health":
            return self.reply_json(start_response, {"service": SERVICE_NAME, "pid": os.getpid(),
                                                    "moto": moto_version})
        if path == "/_bootcamp/stats":
            with self.lock:
                rows = [{"account": a, "service": s, "requests": n} for (a, s), n in self.requests.items()]
                total = sum(self.requests.values())
            return self.reply_json(start_response, {"total": total, "by_account_service": rows,
                                                    "iam_simulations": simulator.counts()})
        if path == "/_bootcamp/faults" and environ.get("REQUEST_METHOD") == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                count, code, account = faults_wanted(json.loads(environ["wsgi.input"].read(size) or b"{}"))
            except ValueError as exc:  # JSONDecodeError too
                return self.reply(start_response, 400, "application/json", json.dumps({"error": str(exc)}))
            return self.reply_json(start_response, self.faults.inject(count, code, account))
        if path == "/_bootcamp/apps":
            return self.control_apps(environ, start_response)
        if path == "/_bootcamp/instance-keys" and environ.get("REQUEST_METHOD") == "POST":
            return self.reply(start_response, *instance_keys(environ))
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


def instance_keys(environ) -> tuple[int, str, str]:
    """(status, type, body) for a POST {account, role}: the role's keys, as EC2 gives an instance them."""
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        wanted = json.loads(environ["wsgi.input"].read(size) or b"null")
        account, role_name = wanted["account"], wanted["role"]
        if not (isinstance(account, str) and ROOT_KEY.match(account) and isinstance(role_name, str)):
            raise ValueError
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return 400, "application/json", json.dumps({"error": 'the body must be {"account": 12 digits, "role": a name}'})
    if why := registration_refusal(environ, account):
        return 403, "application/json", json.dumps({"error": why})
    role = authorize.role_by_name(account, role_name)
    if role is None or not authorize.ec2_may_assume(role):
        return 403, "application/json", json.dumps(
            {"error": f"role {role_name} of account {account} does not exist or does not trust ec2.amazonaws.com"})
    from bootcamp.sandbox.dataplane.adapter import role_credentials

    keys = role_credentials(account, role.arn, "employee-directory")
    return 200, "application/json", json.dumps({k: keys[k] for k in ("AccessKeyId", "SecretAccessKey", "Token")})


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


def build_app(store: Store | None = None, speedups: bool = True) -> Sandbox:
    authorize.enforce()
    keep_inline_policies_as_json()
    block_public_access_by_default()
    refuse_public_policies()
    lab4_apis.autoscaling_notification_configurations()
    lab4_apis.launch_template_versions_from_a_source()
    lab4_apis.launched_interfaces_deleted_on_termination()
    lab4_apis.group_warmup_and_policy_switch_kept()
    lab5_apis.cache_and_origin_request_policies()
    lab5_apis.distributions_as_aws_keeps_them()
    fidelity.apply()
    simulator.install()
    shared.share_aws_managed_policies()
    shared.share_public_images()
    if not speedups:
        return Sandbox(DomainDispatcherApplication(create_backend_app), store)
    dispatch.remember_action_names()
    dispatch.remember_raw_urls()
    dispatch.remember_s3_addressing()
    dispatch.quicker_request_ids()
    dispatch.quicker_header_parsing()
    dispatch.remember_bodies_not_json()
    dispatch.quicker_header_views()
    dispatch.remember_filter_patterns()
    answers.quicker_value_picking()
    answers.quicker_xml_bodies()
    return Sandbox(dispatch.CachedDispatcher(create_backend_app), store)


class _RedactedLog:
    """Request log lines that keep no credentials (a presigned URL carries them)."""

    def log(self, type: str, message: str, *args) -> None:
        super().log(type, "%s", redact_log_line(message % args if args else message))


class _DirectLog:
    """The same log lines, written to stderr without Python's logging machinery (werkzeug's logger goes
    through it for every request, several percent of a call; nothing here configures that logger)."""

    def log(self, type: str, message: str, *args) -> None:
        line = redact_log_line(message % args if args else message)
        sys.stderr.write(f"{self.address_string()} - - [{self.log_date_time_string()}] {line}".rstrip() + "\n")
        sys.stderr.flush()


class RequestHandler(_DirectLog, KeepAliveHandler):
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

        app.dataplane = DataPlane(args.home, f"http://{args.host}:{args.port}", store)
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
