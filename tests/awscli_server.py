"""The real AWS CLI, started once: each `aws` command a replayed guide runs is a fork of it.

A guide replay runs 15 to 35 `aws` commands. Each new `aws` process spends about 1.2 s of CPU
importing the CLI and reading botocore's service models before it sends its one request; that
start-up was most of a replay's time. Here one server process imports the CLI and reads the
models the labs use, once. The `aws` on the replay's PATH is tests/forkserver.py's small client,
which hands the server its arguments, environment, working folder and its stdin, stdout and
stderr; the server forks, and the child runs the CLI's own `main` with them, exactly as `aws`
would, and sends back the exit status. Every request still goes over HTTP
to the sandbox, made by the AWS CLI's own code. Nothing of the parent's configuration is reused:
each child builds a new CLI driver from the environment it was handed, sharing only the
read-only model loader.

    python tests/forkserver.py aws SOCKET     # serve until killed
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys

SERVICES = ("ec2", "iam", "s3", "sts", "dynamodb", "elbv2", "autoscaling", "sns", "sqs", "cloudwatch")
MODELS = ("service-2", "paginators-1", "waiters-2")
DATA = ("endpoints", "partitions", "sdk-default-configuration", "_retry", "cli")


def _run(request: dict, fds: list[int], loader) -> int:
    """In the forked child: become the `aws` process the client stands for, and run the CLI."""
    import awscli.clidriver

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the CLI waits for what it starts itself
    for number, fd in enumerate(fds[:3]):
        os.dup2(fd, number)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["aws", *request["argv"]]
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
    driver = awscli.clidriver.create_clidriver()
    driver.session.register_component("data_loader", loader)
    try:
        status = driver.main(request["argv"])
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    return status or 0


def serve(path: str) -> None:
    import awscli.clidriver

    import forkserver

    loader = awscli.clidriver.create_clidriver().session.get_component("data_loader")
    for service in SERVICES:
        for model in MODELS:
            with contextlib.suppress(Exception):  # not every service has waiters
                loader.load_service_model(service, model)
    for name in DATA:
        loader.load_data(name)

    def run(conn, request: dict, fds: list[int]) -> None:
        status = _run(request, fds, loader)
        with contextlib.suppress(OSError):
            conn.sendall(struct.pack("!i", status))
        os._exit(status if 0 <= status < 256 else 255)

    forkserver.serve(path, run)
