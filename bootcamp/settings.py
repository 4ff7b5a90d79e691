"""Settings from the environment, overridden by task options."""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

TARGETS = ("embedded", "localstack", "aws")
DEFAULT_PORT = 4599
DEFAULT_APP_PORT = 8080
DEFAULT_REGION = "us-west-2"
DEFAULT_SANDBOX_ACCOUNT = "123456789012"
LANGS = ("en", "ko")
# What LocalStack's free edition lacks (lab.list says so without loading boto3).
LOCALSTACK_MISSING = {
    "elbv2": "Elastic Load Balancing v2",
    "autoscaling": "EC2 Auto Scaling",
    "cloudfront": "CloudFront",
}
ENV_VARS = {
    "BOOTCAMP_TARGET": "target", "BOOTCAMP_REGION": "region", "BOOTCAMP_SANDBOX_PORT": "sandbox_port",
    "BOOTCAMP_SANDBOX_ACCOUNT": "sandbox_account", "BOOTCAMP_LANG": "lang",
    "BOOTCAMP_OWNER": "owner", "BOOTCAMP_HOME": "home", "BOOTCAMP_APP_PORT": "app_port",
    "BOOTCAMP_RETRY_BACKOFF": "retry_backoff", "BOOTCAMP_ENDPOINT_URL": "endpoint_url",
}
MAX_RETRY_BACKOFF = 20.0  # seconds: botocore's own cap on one wait between retries


def _default_owner() -> str:
    try:
        name = getpass.getuser()
    except Exception:  # no login name in some containers
        name = "learner"
    return re.sub(r"[^A-Za-z0-9_.@-]", "-", name) or "learner"


@dataclass(frozen=True)
class Settings:
    """Where labs run and how results are shown; every field has an env variable."""

    target: str = "embedded"
    region: str | None = None
    sandbox_port: int = DEFAULT_PORT
    app_port: int = DEFAULT_APP_PORT  # where `invoke app.run` serves the Employee Directory app
    sandbox_account: str = DEFAULT_SANDBOX_ACCOUNT
    profile: str | None = None
    lang: str = "en"
    owner: str = field(default_factory=_default_owner)
    home: Path = field(default_factory=lambda: Path.home() / ".aws-bootcamp")
    assume_yes: bool = False
    retry_backoff: float = MAX_RETRY_BACKOFF  # most seconds between retries of a call (0: retry at once, for tests)
    endpoint_url: str | None = None  # --target aws sent to this AWS-compatible endpoint: a rehearsal
    emulator_account: str | None = None  # the localstack target's access key id (12 digits: that account)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        env = os.environ if env is None else env
        values: dict = {field: env[var] for var, field in ENV_VARS.items() if var in env}
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("sandbox_port", "app_port"):
            if name in values:
                values[name] = port_number(values[name], name.replace("_", " "))
        if "retry_backoff" in values:
            values["retry_backoff"] = seconds(values["retry_backoff"], "retry back-off (BOOTCAMP_RETRY_BACKOFF)")
        if "home" in values:
            values["home"] = Path(values["home"])
        if values.get("endpoint_url") == "":
            values["endpoint_url"] = None  # BOOTCAMP_ENDPOINT_URL= set empty: no rehearsal
        return cls(**values).checked()

    def checked(self) -> "Settings":
        from bootcamp.errors import BootcampError, UnknownTarget

        if self.target not in TARGETS:
            raise UnknownTarget(
                f"unknown target '{self.target}': use one of {', '.join(TARGETS)} "
                "(--target or BOOTCAMP_TARGET)")
        if self.lang not in LANGS:
            raise BootcampError(f"unknown language '{self.lang}': use one of {', '.join(LANGS)}")
        if self.region is not None:
            from bootcamp import checks

            checks.region(self.region, "--region or BOOTCAMP_REGION")
        if self.endpoint_url:
            from bootcamp import checks

            checks.endpoint_url(self.endpoint_url, self.target)
        if not re.fullmatch(r"\d{12}", self.sandbox_account):
            raise BootcampError(
                f"sandbox account '{self.sandbox_account}' is not a 12-digit account id")
        return self

    def but(self, **changes) -> "Settings":
        return replace(self, **changes).checked()


def port_number(value, what: str = "sandbox port") -> int:
    from bootcamp.errors import BootcampError

    try:
        port = int(value)
    except (TypeError, ValueError):
        port = -1
    if not 0 < port < 65536:
        raise BootcampError(f"{what} '{value}' is not a TCP port number (1-65535)")
    return port


def seconds(value, what: str) -> float:
    """A number of seconds from 0 to MAX_RETRY_BACKOFF, or one line saying what to give."""
    from bootcamp.errors import BootcampError

    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 <= number <= MAX_RETRY_BACKOFF:
        raise BootcampError(f"{what} '{value}' is not a number of seconds from 0 to {MAX_RETRY_BACKOFF:g}")
    return number
