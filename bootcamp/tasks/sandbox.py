"""`invoke sandbox.*`: the embedded AWS API server on 127.0.0.1."""

from pathlib import Path

from invoke import Exit, task

from bootcamp.errors import BootcampError, SandboxError
from bootcamp.sandbox import control
from bootcamp.settings import DEFAULT_REGION
from bootcamp.state import LabState
from bootcamp.tasks import friendly, settings

PORT = {"port": "sandbox port (default {sandbox_port})"}


@task(help={**PORT, "fresh": "set the saved state aside (kept beside it) and start empty"})
@friendly
def up(c, port=None, fresh=False):
    """Start the sandbox in the background; it brings back every account as it was."""
    print(control.up(settings(c, sandbox_port=port), fresh=fresh).line())


@task(help=PORT)
@friendly
def down(c, port=None):
    """Stop the sandbox (and this home's warm grader); its state is kept for the next `sandbox.up`."""
    from bootcamp import warm

    s = settings(c, sandbox_port=port)
    warm.stop(s.home)
    print(control.down(s))


@task(help=PORT)
@friendly
def status(c, port=None):
    """Say whether the sandbox runs; exit 1 when it does not."""
    s = settings(c, sandbox_port=port)
    current = control.status(s)
    print(current.line())
    if current.state != "running":
        print(control.saved_state_line(s))
        raise Exit(code=1)
    print(control.state_line(control.state_status(s)))


ACCOUNT = {"account": "only this 12-digit account"}


@task(help={**PORT, **ACCOUNT})
@friendly
def reset(c, port=None, account=None):
    """Empty every account in the sandbox (or one), in memory and on disk."""
    print(control.reset(settings(c, sandbox_port=port), account))


@task(help={**PORT, **ACCOUNT, "file": "the file to write"})
@friendly
def save(c, file, port=None, account=None):
    """Save the sandbox's state (or one account's) to FILE, e.g. to hand out the start of a lab."""
    from bootcamp import checks

    s = settings(c, sandbox_port=port)
    checks.output_file(file, "FILE")
    print(control.save(s, file, control.account_id(account)))


@task(help={**PORT, "account": "put the file's one account into this 12-digit account", "file": "a saved state"})
@friendly
def load(c, file, port=None, account=None):
    """Load a saved state: its accounts replace theirs (or its one account becomes --account)."""
    s = settings(c, sandbox_port=port)
    account = control.account_id(account)
    if not Path(file).is_file():
        raise SandboxError(f"cannot read {file}: not a file saved by `invoke sandbox.save`")
    print(control.load(s, file, account))


@task(help={**PORT, "region": "region to export (default {sandbox_region})",
            "user": "export the sandbox keys of a lab user instead of the root, e.g. user-3",
            "lab": "the lab that made --user (default 1)"})
@friendly
def env(c, port=None, region=None, user=None, lab="1"):
    """Print shell exports that point the AWS CLI and boto3 at the sandbox: eval "$(invoke sandbox.env)"."""
    from bootcamp.labmodel import get_lab

    s = settings(c, sandbox_port=port, region=region)
    lab_ = get_lab(lab)
    control.require_running(s)
    lines = control.env_exports(s, s.region or DEFAULT_REGION)
    if user:
        keys = LabState(s.home, "embedded", s.sandbox_account, lab_.id).load().get("access_keys", {})
        if user not in keys:
            raise BootcampError(f"lab {lab} made no sandbox keys for '{user}': run `invoke lab.start {lab}`")
        lines += (f"\nexport AWS_ACCESS_KEY_ID={keys[user]['id']}"
                  f"\nexport AWS_SECRET_ACCESS_KEY={keys[user]['secret']}")
    print(lines)
