"""Settings from the environment, and the bucket name saved on the settings page."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Mapping

STATE_DIR = "/var/lib/employee-directory"


def default_settings_file() -> str:
    if os.access(STATE_DIR, os.W_OK):
        return STATE_DIR + "/settings.json"
    return os.path.expanduser("~/.employee-directory.json")


def bucket_problem(name: str) -> str | None:
    """Why `name` is no valid S3 bucket name, or None."""
    if re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name) and not re.search(r"\.\.|\.-|-\.|^[\d.]+$", name):
        return None
    return "use 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit"


ENV = {"region": "AWS_DEFAULT_REGION", "bucket": "PHOTOS_BUCKET", "endpoint": "AWS_ENDPOINT_URL",
       "imds_endpoint": "IMDS_ENDPOINT", "table": "EMPLOYEE_TABLE", "settings_file": "SETTINGS_FILE",
       "access_key": "AWS_ACCESS_KEY_ID", "secret_key": "AWS_SECRET_ACCESS_KEY", "session_token": "AWS_SESSION_TOKEN"}


@dataclass(frozen=True)
class AppConfig:
    """Where the data lives; from_env(mapping) reads it from the variables in ENV."""

    region: str = "us-east-1"
    bucket: str | None = None  # unless the settings file names one
    endpoint: str | None = None
    imds_endpoint: str = "http://169.254.169.254"
    table: str = "Employees"
    settings_file: str = field(default_factory=default_settings_file)
    # Without keys boto3 finds credentials itself (the instance role).
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppConfig:
        env = os.environ if env is None else env
        return cls(**{key: env[name].strip() for key, name in ENV.items() if (env.get(name) or "").strip()})

    def bucket_choice(self):
        """(name, "settings" or "env"), or (None, None) when no bucket is set."""
        try:
            with open(self.settings_file) as f:
                return json.load(f)["bucket"], "settings"
        except (OSError, ValueError, LookupError, TypeError):
            return (self.bucket, "env") if self.bucket else (None, None)

    def save_bucket(self, name: str) -> None:
        """Save the bucket name; an empty one removes it (PHOTOS_BUCKET counts again)."""
        with open(self.settings_file, "w") as f:  # half-written, it reads as unset: no harm
            json.dump({"bucket": name} if name else {}, f)
