"""`invoke app.*`: run the Employee Directory app here against a target, or print its EC2 user data."""

import os
import signal
from pathlib import Path

from invoke import task

from bootcamp.errors import BootcampError
from bootcamp.sandbox import control
from bootcamp.settings import DEFAULT_REGION
from bootcamp.state import LabState
from bootcamp.tasks import TARGET_HELP, friendly, settings
from bootcamp.targets import make_target
from employee_directory.__main__ import serve
from employee_directory.config import AppConfig
from employee_directory.web import App

BUCKET_LABS = ("4", "3")  # the labs whose saved state may name the photo bucket, latest first


def app_env(s, target, bucket: str | None) -> dict[str, str]:
    """The variables the app reads on EC2, filled in for this target and account."""
    account = target.account_id
    env = {"AWS_DEFAULT_REGION": target.region, "SETTINGS_FILE": str(s.home / "app" / f"{target.name}-{account}.json")}
    if target.name == "embedded":
        env.update(AWS_ENDPOINT_URL=control.endpoint(s), AWS_ACCESS_KEY_ID=s.sandbox_account,
                   AWS_SECRET_ACCESS_KEY=control.SECRET)
    elif target.name == "localstack":
        env.update(AWS_ENDPOINT_URL=target.base_url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    else:  # resolved here, so that --profile (and SSO) count
        keys = target.session().get_credentials().get_frozen_credentials()
        env.update(AWS_ACCESS_KEY_ID=keys.access_key, AWS_SECRET_ACCESS_KEY=keys.secret_key,
                   AWS_SESSION_TOKEN=keys.token or "")
    saved = (LabState(s.home, target.name, account, lab).load().get("bucket") for lab in BUCKET_LABS)
    env["PHOTOS_BUCKET"] = bucket or os.environ.get("PHOTOS_BUCKET") or next((b for b in saved if b), "")
    return env


def _interrupt(*_):
    raise KeyboardInterrupt  # SIGTERM stops the server the way Ctrl-C does


@task(help={"port": "port to serve on (default 8080)", "host": "address to listen on (default 127.0.0.1)",
            "bucket": "photo bucket (default: PHOTOS_BUCKET, else the bucket lab 4 or 3 made)",
            **{k: TARGET_HELP[k] for k in ("target", "region", "profile")}})
@friendly
def run(c, port=8080, host="127.0.0.1", bucket=None, target=None, region=None, profile=None):
    """Serve the Employee Directory app here, against the target's table and bucket, until Ctrl-C."""
    s = settings(c, target=target, region=region, profile=profile)
    target_ = make_target(s)
    if target_.name == "embedded":
        control.require_running(s)
    else:
        target_.check_ready(["s3", "dynamodb"])
    config = AppConfig.from_env(app_env(s, target_, bucket))
    os.makedirs(os.path.dirname(config.settings_file), exist_ok=True)
    try:
        server = serve(App(config), host, int(port))
    except OSError as exc:
        raise BootcampError(f"cannot serve on {host}:{port}: {exc.strerror}; pick another with --port") from None
    name, source = config.bucket_choice()
    print(f"Employee Directory at http://{host}:{port} -> {target_.describe()}, table {config.table}, "
          f"bucket {f'{name} (from {source})' if name else 'not set'}; Ctrl-C stops it", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Employee Directory stopped")
    finally:
        server.server_close()


@task(help={"region": "region the instance runs in (default: the target's)",
            "bucket": "photo bucket the app uses (default: none yet, as in lab 2)",
            "out": "write to this file instead of printing"})
@friendly
def userdata(c, region=None, bucket=None, out=None):
    """The EC2 user data that installs and starts the app (paste it in Advanced details > User data)."""
    from bootcamp import userdata as scripts

    s = settings(c, region=region)
    script = scripts.render(s.region or DEFAULT_REGION, bucket or "")
    if out:
        Path(out).write_text(script)
        print(f"user data for the Employee Directory app written to {out} ({len(script.encode())} bytes)")
    else:
        print(script, end="")
