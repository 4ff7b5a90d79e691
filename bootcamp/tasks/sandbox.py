"""`invoke sandbox.*`: the embedded AWS API server on 127.0.0.1."""

from invoke import Exit, task

from bootcamp.errors import BootcampError
from bootcamp.sandbox import control
from bootcamp.settings import DEFAULT_REGION
from bootcamp.state import LabState
from bootcamp.tasks import friendly, settings

PORT = {"port": "sandbox port (default {sandbox_port})"}


@task(help=PORT)
@friendly
def up(c, port=None):
    """Start the sandbox in the background (state lives until it stops)."""
    print(control.up(settings(c, sandbox_port=port)).line())


@task(help=PORT)
@friendly
def down(c, port=None):
    """Stop the sandbox; everything in it is gone."""
    print(control.down(settings(c, sandbox_port=port)))


@task(help=PORT)
@friendly
def status(c, port=None):
    """Say whether the sandbox runs; exit 1 when it does not."""
    current = control.status(settings(c, sandbox_port=port))
    print(current.line())
    if current.state != "running":
        raise Exit(code=1)


@task(help=PORT)
@friendly
def reset(c, port=None):
    """Empty every account in the sandbox."""
    print(control.reset(settings(c, sandbox_port=port)))


@task(help={**PORT, "region": "region to export (default {sandbox_region})",
            "user": "export the sandbox keys of a lab user instead of the root, e.g. user-3",
            "lab": "the lab that made --user (default 1)"})
@friendly
def env(c, port=None, region=None, user=None, lab="1"):
    """Print shell exports that point the AWS CLI and boto3 at the sandbox: eval "$(invoke sandbox.env)"."""
    s = settings(c, sandbox_port=port, region=region)
    control.require_running(s)
    lines = control.env_exports(s, s.region or DEFAULT_REGION)
    if user:
        from bootcamp.labmodel import get_lab

        keys = LabState(s.home, "embedded", s.sandbox_account, get_lab(lab).id).load().get("access_keys", {})
        if user not in keys:
            raise BootcampError(f"lab {lab} made no sandbox keys for '{user}': run `invoke lab.start {lab}`")
        lines += (f"\nexport AWS_ACCESS_KEY_ID={keys[user]['id']}"
                  f"\nexport AWS_SECRET_ACCESS_KEY={keys[user]['secret']}")
    print(lines)
