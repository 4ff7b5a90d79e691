"""The app launcher: one process that imports boto3 once and forks every instance's app from it.

A fresh Python that imports boto3 costs about 0.5 s of CPU and 30 MB; a fork of this process
costs milliseconds and shares those pages with its siblings until they write to them. The
child imports the app from the instance's unpacked archive (first on its path), never from
this machine's installed package: the launcher itself imports no part of the project.

botocore's data is read here once too. Each botocore session parses its JSON files anew: the
endpoints, the partitions and, per client, the service's model and endpoint rules. That was 70 %
of an app's CPU from its start to its first answered page (about 0.3 s, a py-spy profile of a
solved lab 4), paid by every app. The launcher parses the files the app's services need and
makes every session in its children share that one loader: read-only data, the same bytes
botocore would read, so a client behaves exactly as one made from the files.

Run by the data plane as `python launcher.py` (a script, so no package is imported). It reads
one JSON request a line on stdin, {"app", "folder", "log", "port", "env"}, forks, and writes
{"pid": N} a line on stdout. Children get their own session (the data plane stops one with
killpg), SIGTERM when the launcher ends, and are reaped here as they exit.
"""

import ctypes
import json
import os
import signal
import sys

import boto3  # imported once, for every app
import botocore.loaders
import botocore.session
import email.parser  # noqa: F401  the app's own imports, also shared
import http.server  # noqa: F401
import multiprocessing  # noqa: F401
import wsgiref.simple_server  # noqa: F401

SERVICES = ("dynamodb", "s3")  # what the app calls


def share_botocore_data() -> None:
    """Parse the data an app's clients need now, and have every later session share it."""
    loader = botocore.loaders.create_loader()
    made = botocore.session.create_loader

    def create_loader(search_path_string=None):
        return loader if not search_path_string else made(search_path_string)  # AWS_DATA_PATH: its own

    botocore.session.create_loader = create_loader
    warm = boto3.session.Session("launcher", "launcher", region_name="us-east-1")  # keys given: no lookup
    for service in SERVICES:  # what making a client reads: models, endpoint rules, paginators
        client = warm.client(service)
        for paginator in ("list_tables",) if service == "dynamodb" else ():
            client.get_paginator(paginator)


def die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def reap(*_) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_app(request: dict) -> None:
    """In the child: become the instance's app (never returns)."""
    try:
        os.setsid()
        die_with_parent()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        nothing = os.open(os.devnull, os.O_RDONLY)
        os.dup2(nothing, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(request["folder"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path.insert(0, request["app"])
        sys.argv = ["employee_directory", "--host", "127.0.0.1", "--port", str(request["port"])]
        import runpy

        runpy.run_module("employee_directory", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        if not isinstance(exc.code, int) and exc.code:
            print(exc.code, file=sys.stderr)
    except BaseException as exc:  # the app's own failure: its log says what
        print(f"the app failed: {exc!r}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    die_with_parent()
    share_botocore_data()
    signal.signal(signal.SIGCHLD, reap)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            run_app(request)
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
