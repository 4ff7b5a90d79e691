"""Reaching each learner's account: credentials from the roster row, and clients shared by the class.

Making a boto3 client is CPU-bound (its class is generated from the service model), and a
class of 100 learners with clients of their own spends most of its time doing that. So the
class shares one client per service; each call is signed with the credentials of the learner
whose collection is running in that thread (a ContextVar read at signing time), and retried
from that learner's own retry budget (see bootcamp.retries), as AWS throttles each account on
its own.
"""

from __future__ import annotations

import contextvars
import threading
from functools import cached_property

import boto3
import botocore.exceptions as bx
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials

from bootcamp import readonly, retries
from bootcamp.classroom.roster import Learner
from bootcamp.errors import BootcampError, explain
from bootcamp.sandbox import control
from bootcamp.settings import DEFAULT_REGION
from bootcamp.targets import RETRIES, ContextCredentials, Target, _shared_models

_current: contextvars.ContextVar[ReadOnlyCredentials | None] = contextvars.ContextVar("learner", default=None)


class Unreachable(Exception):
    """This learner's account cannot be reached; the reason is one line for the gradebook."""


_LEARNER = ContextCredentials(_current, "a class client was used outside a learner's collection")


class ClientPool:
    """One read-only client per (service, region), signed per call as the current learner."""

    def __init__(self, endpoint: str | None, max_backoff: float = retries.MAX_BACKOFF):
        self.endpoint = endpoint
        self.max_backoff = max_backoff
        self._clients: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        self._session = boto3.Session(aws_access_key_id="unset", aws_secret_access_key="unset",
                                      region_name=DEFAULT_REGION, botocore_session=_shared_models())

    def client(self, service: str, region: str):
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                config = Config(retries=RETRIES, connect_timeout=5, read_timeout=60,
                                user_agent_extra="aws-bootcamp-labs class",
                                account_id_endpoint_mode="disabled")  # endpoints must not follow one learner
                client = self._session.client(service, region_name=region, endpoint_url=self.endpoint,
                                              config=config)
                client._request_signer._credentials = _LEARNER
                retries.install(client, self.max_backoff, _LEARNER.key)
                readonly.guard(client)
                self._clients[key] = client
            return self._clients[key]


class LearnerTarget(Target):
    """A target seen through one learner's credentials and the class's shared clients."""

    def __init__(self, base: Target, pool: ClientPool, learner: Learner, credentials: ReadOnlyCredentials,
                 account: str):
        super().__init__(base.settings)
        self.name = base.name
        self.base, self.pool, self.learner = base, pool, learner
        self.learner_credentials = credentials
        self._account = account

    @property
    def region(self) -> str:
        return self.learner.region or self.base.region

    def endpoint(self, service: str) -> str | None:
        return self.base.endpoint(service)

    @property
    def runs_instances(self) -> bool:
        return self.base.runs_instances

    def public_url(self, public_ip: str, region: str | None = None) -> str | None:
        return self.base.public_url(public_ip, region or self.region)

    @property
    def rehearsing(self) -> bool:
        return self.base.rehearsing

    def balancer_url(self, dns_name: str) -> str | None:
        return self.base.balancer_url(dns_name)

    def client(self, service: str, readonly_guard: bool = True):
        return self.pool.client(service, self.region)  # always read-only: grading never writes

    @cached_property
    def account_id(self) -> str:
        return self._account or self.client("sts").get_caller_identity()["Account"]

    def activate(self) -> contextvars.Token:
        return _current.set(self.learner_credentials)

    def deactivate(self, token: contextvars.Token) -> None:
        _current.reset(token)


class Access:
    """Turns roster rows into learner targets on one base target (embedded, localstack or aws)."""

    def __init__(self, base: Target):
        self.base = base
        self.pool = ClientPool(base.endpoint("sts"), base.settings.retry_backoff)
        self._instructor_sts = None
        self._lock = threading.Lock()

    def reach(self, learner: Learner) -> LearnerTarget:
        try:
            credentials, account = self._credentials(learner)
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise Unreachable(explain(exc, self.base.name) or _short(exc)) from None
        except BootcampError as exc:
            raise Unreachable(str(exc)) from None
        return LearnerTarget(self.base, self.pool, learner, credentials, account)

    def _credentials(self, learner: Learner) -> tuple[ReadOnlyCredentials, str]:
        if learner.sandbox_account:
            if self.base.name != "embedded":
                raise Unreachable(f"a sandbox_account needs --target embedded (this run grades on {self.base.name})")
            control.require_running(self.base.settings)
            return ReadOnlyCredentials(learner.sandbox_account, control.SECRET, None), learner.sandbox_account
        if learner.profile:
            try:
                found = boto3.Session(profile_name=learner.profile, botocore_session=_shared_models()).get_credentials()
            except bx.ProfileNotFound:
                raise Unreachable(f"AWS profile '{learner.profile}' is not configured on this machine") from None
            if found is None:
                raise Unreachable(f"AWS profile '{learner.profile}' has no credentials")
            return found.get_frozen_credentials(), ""
        extra = {"ExternalId": learner.external_id} if learner.external_id else {}
        answer = self._sts().assume_role(RoleArn=learner.role_arn, RoleSessionName=f"bootcamp-grader-{learner.id}"[:64],
                                         DurationSeconds=3600, **extra)["Credentials"]
        return (ReadOnlyCredentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"]),
                learner.account_hint)

    def _sts(self):
        """The instructor's own STS client (the base target's credentials), made once."""
        with self._lock:
            if self._instructor_sts is None:
                self._instructor_sts = self.base.client("sts")
            return self._instructor_sts


def _short(exc: Exception) -> str:
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        return f"{exc.operation_name}: {error.get('Code', '')} {error.get('Message', '')}".strip()
    return str(exc).splitlines()[0]
