"""Where a lab runs: the embedded sandbox, LocalStack, or a real AWS account."""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from contextvars import ContextVar
from functools import cached_property
from typing import TYPE_CHECKING

import botocore.exceptions as bx
import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials, ReadOnlyCredentials

from bootcamp import emulators, readonly, rehearsal, retries
from bootcamp.errors import BootcampError, CredentialsError, Declined, TargetUnavailable, explain
from bootcamp.sandbox import control
from bootcamp.settings import DEFAULT_REGION, Settings

if TYPE_CHECKING:
    import boto3

RETRIES = {"mode": "standard", "max_attempts": 5}


_SESSION: botocore.session.Session | None = None
_LOCK = threading.Lock()  # botocore sessions are not thread-safe: clients are made one at a time
_CLIENTS: OrderedDict[tuple, object] = OrderedDict()
_WARM = None  # a warm grader's loader (bootcamp.warm): models read before it forks each grade
MAX_CLIENTS = 64  # a test process sees many accounts; a CLI run makes a handful


def shared_session() -> botocore.session.Session:
    """The process's one botocore session: set up once, its loader reads each service model once."""
    global _SESSION
    with _LOCK:
        if _SESSION is None:
            from bootcamp import models

            _SESSION = botocore.session.get_session()
            models.install(_SESSION, _WARM)  # service models without their documentation: 4x faster to read
            models.share_client_classes(_SESSION)
        return _SESSION


def warm_models(services: tuple[str, ...]) -> None:
    """Read what making these services' clients reads, and keep only that: the session (which has
    read this process's environment and AWS config) and its clients are dropped, and the sessions
    made later, in the grades a warm grader forks, read the models through the same loader."""
    from bootcamp import models

    global _SESSION, _WARM
    session = shared_session()
    for service in services:
        session.create_client(service, region_name="us-east-1", aws_access_key_id="warm", aws_secret_access_key="warm")
    loader = session.get_component("data_loader")
    with _LOCK:
        if not models.configured_paths(loader):  # a data_path of this process's own is not handed on
            _WARM = loader
        _SESSION = None
        _CLIENTS.clear()


def _shared_models() -> botocore.session.Session:
    """A botocore session of its own (for boto3.Session, which changes it) with the shared loader."""
    session = botocore.session.get_session()
    session.register_component("data_loader", shared_session().get_component("data_loader"))
    return session


def _config(borrowed: bool) -> Config:
    if borrowed:  # other identities' probes; one client serves them all, so endpoints follow none
        return Config(retries=RETRIES, connect_timeout=5, account_id_endpoint_mode="disabled")
    return Config(retries=RETRIES, connect_timeout=5, read_timeout=60, user_agent_extra="aws-bootcamp-labs")


def signed_client(service: str, region: str, endpoint: str | None, credentials: tuple[str, ...],
                  guard: bool, backoff: float):
    """A client signed with explicit credentials, made once per service, place and credentials.

    Making a client costs tens of milliseconds (botocore generates its class and its service
    model's shapes for each one), so the process keeps them. guard: refuse writes (readonly.guard).
    """
    key, secret, *token = credentials
    cache_key = (service, region, endpoint, key, secret, token[0] if token else None, guard, backoff)
    return _cached(cache_key, lambda session: session.create_client(
        service, region_name=region, endpoint_url=endpoint, aws_access_key_id=key,
        aws_secret_access_key=secret, aws_session_token=token[0] if token else None,
        config=_config(False)), guard, borrowed=False, backoff=backoff)


def _cached(cache_key: tuple, make, guard: bool, borrowed: bool, backoff: float):
    session = shared_session()
    with _LOCK:
        if cache_key in _CLIENTS:
            _CLIENTS.move_to_end(cache_key)
            return _CLIENTS[cache_key]
        client = make(session)
        # borrowed: one client for every identity, so each identity retries from a budget of its own
        retries.install(client, backoff, _CALLER.key if borrowed else lambda: "")
        if guard:
            readonly.guard(client, borrowed=borrowed)
        _CLIENTS[cache_key] = client
        while len(_CLIENTS) > MAX_CLIENTS:
            _CLIENTS.popitem(last=False)
        return client


_SIGNING_AS: ContextVar[ReadOnlyCredentials | None] = ContextVar("bootcamp_signing_as", default=None)


class ContextCredentials(Credentials):
    """Credentials read from a context variable when a request is signed: whoever the running call
    is made as. Lets one client serve many identities (IAM users' probes, a class's learners)."""

    def __init__(self, current: ContextVar, outside: str):
        super().__init__("unset", "unset")
        self._current, self._outside = current, outside

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        found = self._current.get()
        if found is None:
            raise RuntimeError(self._outside)
        return found

    def key(self) -> str:
        """Whose retry budget the running call spends (see bootcamp.retries)."""
        found = self._current.get()
        return found.access_key if found is not None else ""


_CALLER = ContextCredentials(_SIGNING_AS, "a borrowed client was called outside SignedAs")


def borrowed_client(service: str, region: str, endpoint: str | None, guard: bool, backoff: float):
    """One client per service for every other identity (IAM users' keys), each call signed as its caller."""
    def make(session):
        client = session.create_client(service, region_name=region, endpoint_url=endpoint,
                                       aws_access_key_id="unset", aws_secret_access_key="unset",
                                       config=_config(True))
        client._request_signer._credentials = _CALLER  # as the class's shared clients do
        return client

    return _cached(("borrowed", service, region, endpoint, guard, backoff), make, guard, borrowed=True,
                   backoff=backoff)


class SignedAs:
    """A shared client seen as one identity: every API call made through it is signed with its keys.

    Only direct calls are signed so (paginators and waiters call the client later, outside).
    """

    def __init__(self, client, access_key: str, secret_key: str):
        self._client = client
        self._credentials = ReadOnlyCredentials(access_key, secret_key, None)

    def __getattr__(self, name: str):
        method = getattr(self._client, name)
        if name.startswith("_") or name in ("get_paginator", "get_waiter") or not callable(method):
            return method

        def signed(*args, **kwargs):
            token = _SIGNING_AS.set(self._credentials)
            try:
                return method(*args, **kwargs)
            finally:
                _SIGNING_AS.reset(token)

        return signed


FREE_TIER_TYPES = {"t2.micro", "t3.micro"}
# One cheap read per service, to see that it answers before a lab relies on it.
READINESS = {
    "iam": ("list_users", {"MaxItems": 1}), "sts": ("get_caller_identity", {}),
    "ec2": ("describe_availability_zones", {}), "s3": ("list_buckets", {}),
    "dynamodb": ("list_tables", {"Limit": 1}), "sns": ("list_topics", {}),
    "elbv2": ("describe_load_balancers", {"PageSize": 1}),
    "autoscaling": ("describe_auto_scaling_groups", {"MaxRecords": 1}),
}


READINESS_WAIT = 15  # seconds: on a busy 2-core machine LocalEmu took over 3 s for its first EC2 call


class Target:
    """A place AWS calls go: names an account, makes clients, says what it cannot serve."""

    name = ""
    runs_instances = False  # whether instances really run and serve (AWS, and the sandbox's data plane)
    rehearsing = False  # the aws target sent to another endpoint (bootcamp.rehearsal)

    def __init__(self, settings: Settings):
        self.settings = settings
        self._clients: dict[tuple[str, bool], object] = {}

    @property
    def region(self) -> str:
        return self.settings.region or DEFAULT_REGION

    def session(self) -> boto3.Session:
        raise NotImplementedError

    def endpoint(self, service: str) -> str | None:
        return None

    def credentials(self) -> tuple[str, ...] | None:
        """Explicit (key, secret[, token]) this target signs with, or None for its session's own."""
        return None

    def public_url(self, public_ip: str, region: str | None = None) -> str | None:
        """The URL this machine reaches an instance's port 80 at by its public address (in `region`, by
        default the target's); None where no instance really runs (LocalStack)."""
        return None

    def balancer_url(self, dns_name: str) -> str | None:
        """The URL this machine reaches a load balancer's listener on port 80 at by its DNSName;
        None where no load balancer really answers (LocalStack)."""
        return None

    def pause(self, aws_seconds: float) -> float:
        """Seconds to pause between looks where AWS takes `aws_seconds` (see bootcamp.rehearsal)."""
        return aws_seconds

    def wait(self, client, waiter: str, **params) -> None:
        """Wait with a boto3 waiter, at this target's pace (see bootcamp.rehearsal)."""
        client.get_waiter(waiter).wait(**params, WaiterConfig=rehearsal.waiter_config(self.rehearsing))

    def client(self, service: str, readonly_guard: bool = False):
        """A client with standard retries; with readonly_guard it refuses every write."""
        key = (service, readonly_guard)
        if key not in self._clients:
            backoff = self.settings.retry_backoff
            if self.credentials():
                client = signed_client(service, self.region, self.endpoint(service), self.credentials(),
                                       readonly_guard, backoff)
            else:
                client = self.session().client(service, region_name=self.region,
                                               endpoint_url=self.endpoint(service), config=_config(False))
                retries.install(client, backoff)
                if readonly_guard:
                    readonly.guard(client)
            self._clients[key] = client
        return self._clients[key]

    def client_as(self, service: str, access_key: str, secret_key: str, readonly_guard: bool = True):
        """A client signed by other credentials (an IAM user's); one is shared by every such identity."""
        client = borrowed_client(service, self.region, self.endpoint(service), readonly_guard,
                                 self.settings.retry_backoff)
        return SignedAs(client, access_key, secret_key)

    @cached_property
    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    def check_ready(self, services: list[str], needs: list[str] = ()) -> None:
        """Raise one clear line when this target cannot serve a service (or a call: `needs`) the lab needs."""
        try:
            self.account_id
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise TargetUnavailable(explain(exc, self.name) or f"{self.name}: {exc}") from None

    def check_endpoint(self) -> None:
        """Raise one clear line when the endpoint given for this target does not answer (see AwsTarget)."""

    def confirm_changes(self, lab_title: str) -> None:
        """Ask before changing something that costs money; nothing to ask by default."""

    def check_instance_type(self, instance_type: str) -> None:
        """Refuse sizes a lab must not create on this target."""

    def describe(self) -> str:
        return f"{self.name} (region {self.region})"


class EmbeddedTarget(Target):
    """The sandbox, as the root of settings.sandbox_account, or as other credentials given.

    credentials: (access key, secret) of an IAM user, or (access key, secret, session token)
    of an assumed role, e.g. an instructor's session in a learner's grader role.
    """

    name = "embedded"
    runs_instances = True

    def __init__(self, settings: Settings, credentials: tuple[str, ...] | None = None):
        super().__init__(settings)
        self._credentials = credentials

    def credentials(self) -> tuple[str, ...]:
        return tuple(self._credentials or (self.settings.sandbox_account, control.SECRET))

    def session(self) -> boto3.Session:
        import boto3  # only for what needs a boto3 session: clients come from shared_session()

        key, secret, *token = self.credentials()
        return boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                             aws_session_token=token[0] if token else None,
                             region_name=self.region, botocore_session=_shared_models())

    def endpoint(self, service: str) -> str:
        return control.endpoint(self.settings)

    def public_url(self, public_ip: str, region: str | None = None) -> str:
        """Through the sandbox's edge, which lets the request in only where AWS would."""
        from bootcamp.sandbox.dataplane.names import public_dns_name

        return f"http://{public_dns_name(public_ip, region or self.region)}:{self.settings.sandbox_port}"

    def balancer_url(self, dns_name: str) -> str:
        """Through the sandbox's edge too: its DNSName is under .elb.localhost, on the sandbox's port."""
        return f"http://{dns_name}:{self.settings.sandbox_port}"

    @cached_property
    def account_id(self) -> str:
        if self._credentials:
            return self.client("sts").get_caller_identity()["Account"]
        return self.settings.sandbox_account

    def check_ready(self, services: list[str], needs: list[str] = ()) -> None:
        control.require_running(self.settings)

    def describe(self) -> str:
        return (f"embedded sandbox {control.endpoint(self.settings)} "
                f"(account {self.account_id}, region {self.region})")


class LocalStackTarget(Target):
    """An AWS emulator at LOCALSTACK_HOST: LocalStack, or one of its successors (bootcamp/emulators.toml).

    It signs with settings.emulator_account as the access key id (an account of its own where the
    emulator separates accounts so), else with LocalStack's "test" key (its account 000000000000).
    """

    name = "localstack"

    @property
    def access_key(self) -> str:
        return self.settings.emulator_account or "test"

    def credentials(self) -> tuple[str, str]:
        return (self.access_key, "test")

    def session(self) -> boto3.Session:
        import boto3

        return boto3.Session(aws_access_key_id=self.access_key, aws_secret_access_key="test",
                             region_name=self.region, botocore_session=_shared_models())

    def endpoint(self, service: str) -> str:
        from localstack_client.config import get_service_endpoint

        return get_service_endpoint(service) or self.base_url

    @property
    def base_url(self) -> str:
        host = os.environ.get("LOCALSTACK_HOST", "localhost:4566")
        return host if "://" in host else f"http://{host}"

    @cached_property
    def emulator(self) -> emulators.Found:
        """Which emulator answers, and what it serves (its health answer, asked once)."""
        found = emulators.detect(self.base_url)
        if found is None:
            raise TargetUnavailable(emulators.not_running(self.base_url))
        return found

    def check_ready(self, services: list[str], needs: list[str] = ()) -> None:
        """Refuse, before anything is made, a lab needing a service or call the emulator lacks."""
        lacking = emulators.lacks(self.emulator, services, list(needs))
        if lacking:
            raise TargetUnavailable(emulators.refusal(self.emulator, self.base_url, lacking))
        for service in services:
            self.check_answers(service)

    def _refuse(self, service: str, why: str):
        why = self.emulator.emulator.unanswered.get(service, why)
        raise TargetUnavailable(emulators.refusal(
            self.emulator, self.base_url, [f"{service} ({emulators.long_name(service)}: {why})"]))

    def check_answers(self, service: str) -> None:
        """One read with a bounded wait and no retries: offline, some services hang for minutes (a
        service's first call may take seconds: LocalStack and LocalEmu load it then)."""
        if service not in READINESS:
            return
        method, params = READINESS[service]
        client = self.session().client(service, region_name=self.region, endpoint_url=self.endpoint(service),
                                       config=Config(retries={"total_max_attempts": 1},
                                                     connect_timeout=2, read_timeout=READINESS_WAIT))
        try:
            getattr(client, method)(**params)
        except bx.ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", "")
            if "license" in message or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                self._refuse(service, message.split(".")[0] or "it answers with a server error")
        except (bx.ReadTimeoutError, bx.ConnectTimeoutError, bx.EndpointConnectionError):
            self._refuse(service, "it does not answer")

    def describe(self) -> str:
        return f"localstack: {self.emulator.label} at {self.base_url} (account {self.account_id}, region {self.region})"


class AwsTarget(Target):
    """A real AWS account; or, with settings.endpoint_url, the same calls sent to an AWS-compatible
    endpoint (a rehearsal: bootcamp.rehearsal says where the two differ)."""

    name = "aws"
    runs_instances = True

    @property
    def rehearsing(self) -> bool:
        return bool(self.settings.endpoint_url)

    @cached_property
    def _session(self) -> boto3.Session:
        import boto3

        try:
            return boto3.Session(profile_name=self.settings.profile, region_name=self.settings.region,
                                 botocore_session=_shared_models())
        except bx.ProfileNotFound as exc:
            raise CredentialsError(explain(exc)) from None

    def session(self) -> boto3.Session:
        return self._session

    def endpoint(self, service: str) -> str | None:
        return self.settings.endpoint_url  # None: botocore's endpoint for the service and region

    def public_url(self, public_ip: str, region: str | None = None) -> str:
        return rehearsal.instance_url(self.settings.endpoint_url, public_ip, region or self.region)

    def balancer_url(self, dns_name: str) -> str:
        return rehearsal.balancer_url(self.settings.endpoint_url, dns_name)

    def pause(self, aws_seconds: float) -> float:
        return rehearsal.pause(aws_seconds, self.rehearsing)

    @property
    def region(self) -> str:
        return self.settings.region or self._session.region_name or DEFAULT_REGION

    def check_ready(self, services: list[str], needs: list[str] = ()) -> None:
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        if endpoint and not self.rehearsing:
            raise TargetUnavailable(
                f"AWS_ENDPOINT_URL is set ({endpoint}), so calls would not reach AWS: "
                "unset it for --target aws, or rehearse against it with --endpoint-url")
        if self._session.get_credentials() is None:
            raise CredentialsError(explain(bx.NoCredentialsError()))
        self.check_endpoint()
        super().check_ready(services)

    def check_endpoint(self) -> None:
        """On a rehearsal, that something answers HTTP at the endpoint (any answer: it is asked unsigned),
        said at once in one line rather than after every retry of the first call."""
        if not self.rehearsing:
            return
        try:
            urllib.request.urlopen(self.settings.endpoint_url, timeout=5).close()
        except urllib.error.HTTPError:
            return  # it answers; an AWS-compatible endpoint refuses an unsigned request
        except (urllib.error.URLError, OSError, ValueError):
            raise TargetUnavailable(
                f"nothing answers at {self.settings.endpoint_url} (--endpoint-url): start it "
                "(e.g. `invoke sandbox.up` for the sandbox) or give the endpoint's URL") from None

    def describe(self) -> str:
        where = f" at {self.settings.endpoint_url} (a rehearsal)" if self.rehearsing else ""
        return f"aws{where} (region {self.region})"

    def confirm_changes(self, lab_title: str) -> None:
        line = (f"This creates {lab_title} resources in AWS account {self.account_id}, "
                f"region {self.region}, which may cost money.")
        if self.rehearsing:
            line += f" (A rehearsal: every call goes to {self.settings.endpoint_url}.)"
        if self.settings.assume_yes:
            print(line + " (--yes given)")
            return
        if not os.isatty(0):
            raise Declined(line + " Run again with --yes to confirm.")
        answer = input(line + " Continue? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            raise Declined("nothing was created")

    def check_instance_type(self, instance_type: str) -> None:
        if instance_type not in FREE_TIER_TYPES:
            raise BootcampError(
                f"instance type {instance_type} is outside the free tier: labs use "
                f"{' or '.join(sorted(FREE_TIER_TYPES))} on a real account")


def make_target(settings: Settings) -> Target:
    return {"embedded": EmbeddedTarget, "localstack": LocalStackTarget,
            "aws": AwsTarget}[settings.target](settings)
