"""The learner's own values a guide fills in: target, account id, region, endpoint, sign-in URL.

A guide is read before and while a lab runs, so finding them never needs the sandbox to be up,
and a target that does not answer gives placeholders (and says why) instead of an error.
"""

from __future__ import annotations

import hashlib
import os
import re

import botocore.exceptions as bx
from botocore.config import Config

from bootcamp.errors import BootcampError, explain
from bootcamp.labmodel import Lab
from bootcamp.sandbox import control
from bootcamp.settings import DEFAULT_REGION, Settings
from bootcamp.state import LabState, lab_files
from bootcamp.targets import make_target

UNKNOWN_ACCOUNT = "<account-id>"
UNKNOWN_SUFFIX = "<bucket-suffix>"


def _account(target, region: str) -> str:
    """One quick STS call: a guide should not wait through a grade's retries to show a placeholder."""
    if target.name == "aws" and os.environ.get("AWS_ENDPOINT_URL") and not target.settings.endpoint_url:
        raise BootcampError(f"AWS_ENDPOINT_URL is set ({os.environ['AWS_ENDPOINT_URL']}), so AWS "
                            "would not be asked: unset it for --target aws, or rehearse with --endpoint-url")
    sts = target.session().client("sts", region_name=region, endpoint_url=target.endpoint("sts"),
                                  config=Config(retries={"total_max_attempts": 1}, connect_timeout=3,
                                                read_timeout=5))
    return sts.get_caller_identity()["Account"]


def bucket_suffix(owner: str, account: str) -> str:
    """Four digits, the same for a learner in an account every time, to make bucket names unique."""
    return f"{int(hashlib.sha256(f'{owner}:{account}'.encode()).hexdigest(), 16) % 10000:04d}"


def initials(owner: str) -> str:
    """Two letters for names a learner makes unique (employee-photo-bucket-<initials>-...)."""
    return (re.sub(r"[^a-z]", "", owner.lower()) + "xx")[:2]


def learner_values(settings: Settings, lab: Lab) -> tuple[dict[str, str], str]:
    """The values for this learner, and '' or one line saying why some are placeholders."""
    target = make_target(settings)
    why, account = "", ""
    try:
        region = target.region  # on aws, the profile's region when none is given
    except BootcampError as exc:  # an unknown --profile
        region, why = settings.region or DEFAULT_REGION, str(exc)
    if target.name == "embedded":
        account = settings.sandbox_account  # known without asking, so the sandbox need not run yet
    elif not why:
        try:
            account = _account(target, region)
        except (bx.BotoCoreError, bx.ClientError, BootcampError) as exc:
            why = explain(exc, target.name) or str(exc)
    endpoint = {"embedded": lambda: control.endpoint(settings),
                "localstack": lambda: target.base_url}.get(target.name, lambda: "")()
    known = account or UNKNOWN_ACCOUNT
    return {
        "target": target.name, "account_id": known, "region": region, "endpoint": endpoint,
        "profile": settings.profile or "", "owner": settings.owner,
        "bucket_suffix": bucket_suffix(settings.owner, account) if account else UNKNOWN_SUFFIX,
        "initials": initials(settings.owner), "app_port": str(settings.app_port),
        "sandbox_port": str(settings.sandbox_port),
        "lab_dir": str(lab_files(settings.home, lab.id, target.name, known)),
        "console_url": f"https://{known}.signin.aws.amazon.com/console",
        "state_file": str(LabState(settings.home, target.name, known, lab.id).path),
    }, why
