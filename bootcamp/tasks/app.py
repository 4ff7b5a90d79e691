"""`invoke app.*`: run the Employee Directory app here against a target, or print its EC2 user data."""

import signal
from pathlib import Path

from invoke import task

from bootcamp.settings import DEFAULT_REGION, port_number
from bootcamp.tasks import TARGET_HELP, friendly, settings


def _interrupt(*_):
    raise KeyboardInterrupt  # SIGTERM stops the server the way Ctrl-C does


@task(help={"port": "port to serve on (default {app_port})", "host": "address to listen on (default 127.0.0.1)",
            "bucket": "photo bucket (default: PHOTOS_BUCKET, else the bucket lab 4 or 3 made)",
            **{k: TARGET_HELP[k] for k in ("target", "region", "profile")}})
@friendly
def run(c, port=None, host="127.0.0.1", bucket=None, target=None, region=None, profile=None):
    """Serve the Employee Directory app here, against the target's table and bucket, until Ctrl-C."""
    from bootcamp import webapp
    from bootcamp.sandbox import control
    from bootcamp.targets import make_target

    s = settings(c, target=target, region=region, profile=profile)
    target_ = make_target(s)
    if target_.name == "embedded":
        control.require_running(s)
    else:
        target_.check_ready(["s3", "dynamodb"])
    signal.signal(signal.SIGTERM, _interrupt)
    port = s.app_port if port is None else port_number(port, "app port")
    with webapp.serving(s, target_, host, port, bucket) as app:
        name, source = app.config.bucket_choice()
        print(f"Employee Directory at {app.url} -> {target_.describe()}, table {app.config.table}, "
              f"bucket {f'{name} (from {source})' if name else 'not set'}, as {webapp.identity(app.config, target_)}; "
              "Ctrl-C stops it", flush=True)
        try:
            app.server.serve_forever()
        except KeyboardInterrupt:
            print("Employee Directory stopped")


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
