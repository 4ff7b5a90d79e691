"""The commands the tests run by the hundred, each a fork of one loaded server per worker.

A new `invoke` process spends 0.6-1 s of CPU, and a new `aws` about 1.2 s, importing its code and
reading botocore's models before its first request: over a run, more than a tenth of the suite's
CPU. Here a server imports that once and forks for every command. The child takes over the
command's argv, environment, working folder and three standard streams (passed as file
descriptors), runs the program's own entry point with them, ends as a Python process ends, and
sends back the exit status. Each child builds its sessions, settings and clients from the
environment it was handed; every request still goes over HTTP.

- `invoke`: the project's tasks, run as bootcamp/warm.py's grader runs a grade (`warm.run_handed`),
  but as a plain command: a grade may hand over to, or start, a home's warm grader.
- `aws`: the AWS CLI (tests/awscli_server.py).

A command reaches a server from a shell through a client script on its PATH (`CLIENT`: plain
Python without site-packages), or from a test through `call`, which captures the output as
`subprocess.run(..., capture_output=True)` does.

    python tests/forkserver.py invoke|aws SOCKET     # serve until killed
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The client: argv (after PREFIX), environment and folder as JSON, the three standard streams as
# passed fds; the answer is the exit status as 4 bytes (none: the server went away, 255).
CLIENT = '''import array, json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect({socket!r})
request = json.dumps({{"argv": {prefix!r} + sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}}).encode()
s.sendmsg([struct.pack("!I", len(request)) + request],
          [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
answer = b""
while len(answer) < 4:
    part = s.recv(4 - len(answer))
    if not part:
        sys.exit(255)
    answer += part
sys.exit(struct.unpack("!i", answer)[0])
'''


def serve(path: str, run) -> None:
    """Accept commands until killed; each in a forked child, `run(conn, request, fds)`, which sends
    the status and exits."""
    from bootcamp.warm import receive  # the project's warm grader takes requests the same way

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        if os.fork() == 0:
            server.close()
            try:
                request, fds = receive(conn)
                run(conn, request, fds)
            finally:
                with contextlib.suppress(OSError):
                    conn.sendall(struct.pack("!i", 255))  # reached only when `run` failed before its end
                os._exit(255)
        conn.close()


def serve_invoke(path: str) -> None:
    """`invoke` from the project folder, with what its tasks use loaded: bootcamp/warm.py's preload and
    the libraries of the other tasks. Not tasks.py and its modules: their help shows the defaults of
    the environment they are imported in, which is each command's own."""
    from bootcamp import warm

    sys.path[0] = str(ROOT)  # as `python -m invoke` run in the project folder has it
    warm.preload()
    for module in ("bootcamp.classroom.run", "bootcamp.guide", "bootcamp.provision", "jinja2"):
        __import__(module)
    serve(path, lambda conn, request, fds: warm.run_handed(conn, request, fds, child=False))


@contextlib.contextmanager
def running(kind: str, folder: Path, prefix: tuple[str, ...] = ()):
    """A server of `kind` for the duration; yields the client script (named `kind`) that talks to it.
    `prefix`: arguments the client puts before its own (e.g. invoke's --search-root)."""
    sock = folder / f"{kind}.sock"
    proc = subprocess.Popen([sys.executable, __file__, kind, str(sock)], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {kind} server did not start (exit {proc.poll()})")
        yield write_client(folder / kind, sock, prefix)
    finally:
        proc.kill()
        proc.wait(timeout=30)


def write_client(path: Path, sock: Path, prefix: tuple[str, ...] = ()) -> Path:
    """The client script at `path`, for the server at `sock`; `prefix`: arguments before its own."""
    path.write_text(f"#!{sys.executable} -S\n" + CLIENT.format(socket=str(sock), prefix=list(prefix)))
    path.chmod(0o755)
    return path


def call(sock: Path, argv: list[str], env: dict, cwd: Path, timeout: float) -> tuple[int, str, str]:
    """Run a command through a server, its stdin empty, its output captured: (status, stdout, stderr).
    Past `timeout`, the command is interrupted (its connection closed) and TimeoutExpired raised."""
    from bootcamp import warm

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    conn = socket.socket(socket.AF_UNIX)
    try:
        conn.connect(str(sock))
        warm.send(conn, {"argv": argv, "env": env, "cwd": str(cwd)}, [null, out_w, err_w])
    except OSError:
        for fd in (out_r, err_r):
            os.close(fd)
        conn.close()
        raise
    finally:
        for fd in (null, out_w, err_w):
            os.close(fd)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    status = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector, conn:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        selector.register(conn, selectors.EVENT_READ)
        try:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(argv, timeout, b"".join(chunks[out_r]), b"".join(chunks[err_r]))
                for key, _ in selector.select(left):
                    if key.fileobj is conn:
                        part = conn.recv(4 - len(status))
                        status += part
                        if not part or len(status) == 4:
                            selector.unregister(conn)
                    else:
                        part = os.read(key.fd, 1 << 16)
                        chunks[key.fd].append(part)
                        if not part:
                            selector.unregister(key.fd)
        finally:
            for fd in chunks:
                os.close(fd)
    code = struct.unpack("!i", status)[0] if len(status) == 4 else 255
    return code, b"".join(chunks[out_r]).decode(), b"".join(chunks[err_r]).decode()


if __name__ == "__main__":
    kind, where = sys.argv[1:3]
    if kind == "invoke":
        serve_invoke(where)
    else:
        import awscli_server

        awscli_server.serve(where)
