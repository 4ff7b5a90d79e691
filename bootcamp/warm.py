"""The warm grader: `invoke lab.grade` run by a fork of a process that has a grade's code loaded.

A grade's own work (reading the account, judging, the table) takes 0.1-0.3 s; a new Python
process spends about four times that before it, importing boto3, pytest, rich, the graders and
collectors, and reading botocore's service models. So a learner's grades after the first two are
run by a grader kept warm:

- A home's second grade within the idle time starts `python -m bootcamp.warm HOME` (in the
  background, a session of its own; a home that grades once never pays for one). It imports what
  a grade needs, reads the models the labs' clients use, and listens on HOME/run/grader.sock
  (its folder 0700: only this user reaches it). One per home: a lock file refuses a second.
- The next `invoke lab.grade ...` (invoke has read its arguments and tasks.py by then) hands the
  warm grader its argv, environment, working folder and its three standard streams (as file
  descriptors); the grader forks, and the child takes them over and runs invoke's own program
  with that argv, as the command would have run: the same output to the same terminal, the same
  exit status, sent back. Nothing is reused between grades but loaded code and read-only
  service models: each child makes its botocore session, settings and clients from the
  environment it was handed.
- Stale code is never run: the grader keeps the fingerprint (paths, sizes, modification times)
  of the project's files and the installed packages it loaded; a client that finds another one
  tells it to go, runs the grade in its own process, and starts a new grader.
- It ends after BOOTCAMP_WARM_IDLE seconds without a grade (default 600), at `invoke
  sandbox.down` of its home, or when stale. BOOTCAMP_WARM=off: no grader is used or started.
- Ctrl-C: the client going away interrupts the child (it watches the connection), which ends
  as an interrupted grade does.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bootcamp", "graders", "labs", "templates")
IDLE_SECONDS = 600
STALE = -1  # the status a grader answers a client whose fingerprint is not its own
CHILD = "BOOTCAMP_WARM_CHILD"  # set in a forked grade: it never hands over, nor starts a grader
# What a grade's clients read, parsed in the grader once: every service a lab reads or probes.
SERVICES = ("autoscaling", "cloudfront", "cloudwatch", "dynamodb", "ec2", "elbv2", "iam", "s3", "sns", "sqs", "sts")


def folder(home: Path) -> Path:
    return Path(home) / "run"


def _private(home: Path) -> Path:
    """The grader's folder, made (or made again) readable by this user only."""
    run = folder(home)
    run.mkdir(parents=True, exist_ok=True)
    run.chmod(0o700)
    return run


def socket_path(home: Path) -> Path:
    return folder(home) / "grader.sock"


def enabled() -> bool:
    return os.environ.get("BOOTCAMP_WARM", "on").lower() not in ("off", "0", "no", "false") and CHILD not in os.environ


def fingerprint() -> str:
    """The project's files and the installed packages, as a grader loaded them (cheap: stats only)."""
    import hashlib

    digest = hashlib.sha256(sys.executable.encode())
    for name in SOURCES:
        for base, dirs, files in os.walk(ROOT / name):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for file in sorted(files):
                st = os.stat(os.path.join(base, file))
                digest.update(f"{base}/{file}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    for path in (ROOT / "tasks.py", *(Path(p) for p in sys.path if p.startswith(sys.prefix) and os.path.isdir(p))):
        with contextlib.suppress(OSError):
            st = os.stat(path)  # a folder's time moves when a package is installed or removed
            digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


# --- the client: `invoke lab.grade` --------------------------------------------------------------

def hand_over(home: Path) -> int | None:
    """Have a warm grader run this command; its exit status, or None (no grader, or a stale one)."""
    if not enabled():
        return None
    path = socket_path(home)
    conn = socket.socket(socket.AF_UNIX)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None
    with conn:
        request = {"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd(), "fingerprint": fingerprint()}
        try:
            send(conn, request, [0, 1, 2])
            answer = b""
            while len(answer) < 4:
                part = conn.recv(4 - len(answer))
                if not part:
                    return None  # the grader went away before it began: run the grade here
                answer += part
        except OSError:
            return None
    status = struct.unpack("!i", answer)[0]
    return None if status == STALE else status


def graded(home: Path | None) -> None:
    """A grade ran in its own process: start a warm grader if this home graded before, within the
    idle time (a home that grades once, a script's or a test's, never pays for a grader)."""
    if home is None or not enabled():
        return
    stamp = folder(home) / "graded"
    try:
        again = time.time() - stamp.stat().st_mtime < float(os.environ.get("BOOTCAMP_WARM_IDLE", IDLE_SECONDS))
    except OSError:
        again = False
    _private(home)
    stamp.touch()
    if again:
        start(home)


def start(home: Path | None) -> None:
    """Start a warm grader for this home in the background, unless one runs (or warm grading is off)."""
    if home is None or not enabled() or _answers(socket_path(home)):
        return
    log = os.open(_private(home) / "warm.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        subprocess.Popen([sys.executable, "-m", "bootcamp.warm", str(home)], cwd=ROOT, stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, start_new_session=True,
                         env={k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != CHILD})
    finally:
        os.close(log)


def stop(home: Path) -> bool:
    """End this home's warm grader (it finishes a grade it runs); whether one was running."""
    try:
        pid = int((folder(home) / "grader.pid").read_text())
        proc = Path(f"/proc/{pid}/cmdline")
        if Path("/proc").is_dir() and b"bootcamp.warm" not in proc.read_bytes().split(b"\0"):
            return False  # the pid of a grader gone, now another process's
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return False
    return True


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


# --- the grader ----------------------------------------------------------------------------------

def preload() -> None:
    """Import what a grade runs and read the models its clients use (nothing that depends on the
    environment: settings, sessions and clients are made in each grade)."""
    import botocore.session  # noqa: F401
    import invoke.main  # noqa: F401
    import pytest  # noqa: F401

    import graders.runner  # noqa: F401
    from bootcamp import grading, inventory, lifecycle, report, targets  # noqa: F401
    from bootcamp.labmodel import all_labs

    for lab in all_labs().values():
        lab.collect  # noqa: B018 (a property: imports the collector)
        __import__(lab.grader_module)
    targets.warm_models(SERVICES)


def serve(home: Path) -> None:
    run = _private(home)
    lock = open(run / "grader.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another grader serves this home
    ours = fingerprint()
    preload()
    idle = float(os.environ.get("BOOTCAMP_WARM_IDLE", IDLE_SECONDS))
    path, fresh = socket_path(home), run / f"grader.{os.getpid()}.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(fresh))
    server.listen(8)
    fresh.replace(path)  # a client never meets a socket that does not listen yet
    (run / "grader.pid").write_text(str(os.getpid()))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # grades are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: _leave(path, run))
    print(f"warm grader {os.getpid()}: serving {path} (fingerprint {ours})", flush=True)
    server.settimeout(idle)
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                print(f"warm grader {os.getpid()}: idle for {idle:g} s, leaving", flush=True)
                return
            try:
                request, fds = receive(conn)
            except (OSError, ValueError):  # ConnectionError too
                conn.close()
                continue
            if len(fds) != 3:  # a client hands over exactly its three standard streams
                _close(fds)
                conn.close()
                continue
            if request.get("fingerprint") != ours:
                print(f"warm grader {os.getpid()}: the project changed, leaving", flush=True)
                _close(fds)
                with contextlib.suppress(OSError):
                    conn.sendall(struct.pack("!i", STALE))
                conn.close()
                return
            if os.fork() == 0:
                server.close()
                _grade(conn, request, fds)  # never returns
            _close(fds)
            conn.close()
    finally:
        _leave(path, run, exit_now=False)


def _leave(path: Path, run: Path, exit_now: bool = True) -> None:
    with contextlib.suppress(OSError):
        if (run / "grader.pid").read_text() == str(os.getpid()):
            path.unlink(missing_ok=True)
            (run / "grader.pid").unlink(missing_ok=True)
    if exit_now:
        os._exit(0)


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def send(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """Hand a request over: a length-prefixed JSON object, the file descriptors passed with it."""
    data = json.dumps(request).encode()
    conn.sendmsg([struct.pack("!I", len(data)) + data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """A request as a client hands it over (`send`: a length-prefixed JSON object and the file
    descriptors passed with it, SCM_RIGHTS). The tests' servers of commands speak the same
    (tests/forkserver.py)."""
    data, fds = b"", []
    while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
        part, ancillary, _, _ = conn.recvmsg(1 << 16, socket.CMSG_LEN(3 * array.array("i").itemsize))
        if not part:
            _close(fds)
            raise ConnectionError("the client went away")
        data += part
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += array.array("i", payload[:len(payload) - len(payload) % 4]).tolist()
    return json.loads(data[4:]), fds


def _grade(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: a grade, named in the grader's log, then run as its client would have run it."""
    words = " ".join(a for a in request["argv"] if not a.startswith("-"))[:80]  # no option values: no secrets
    print(f"warm grader {os.getppid()}: grade {os.getpid()} runs {words}", flush=True)  # to its log, before the fds
    run_handed(conn, request, fds)


def run_handed(conn: socket.socket, request: dict, fds: list[int], child: bool = True) -> None:
    """In a forked child: become the `invoke` process a client stands for (its streams, folder,
    environment and argv), run invoke's own program, end as a Python process ends (its threads
    joined, its exit functions run), send the exit status back and exit. Never returns.

    `child` marks it a warm grade, which never hands over nor starts a grader (the tests' own
    server of `invoke` commands, tests/forkserver.py, runs commands unmarked)."""
    status = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for number, fd in enumerate(fds):
            os.dup2(fd, number)
        _close(fds)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if child:
            os.environ[CHILD] = "1"
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1 if os.isatty(1) else -1)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False, buffering=1)
        sys.argv = ["invoke", *request["argv"]]
        threading.Thread(target=_watch, args=(conn,), daemon=True).start()
        from invoke.main import program

        try:
            program.run()
            status = 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        _python_exit()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the client closing after the status: not an interrupt
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(struct.pack("!i", status))
        os._exit(status if 0 <= status < 256 else 1)


def _python_exit() -> None:
    """What the interpreter does as a program ends: wait for its non-daemon threads, run its exit functions."""
    import atexit

    with contextlib.suppress(Exception):
        threading._shutdown()  # the one the interpreter itself calls (a fork's main thread is this one)
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()


def _watch(conn: socket.socket) -> None:
    """The client waits for the status and sends nothing more: its end of the connection closing
    (Ctrl-C, a killed terminal) interrupts the grade."""
    with contextlib.suppress(OSError):
        conn.recv(1)
    os.kill(os.getpid(), signal.SIGINT)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
