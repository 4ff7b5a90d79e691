"""`python -m employee_directory --host 0.0.0.0 --port 80`: a threaded stdlib WSGI server."""

from __future__ import annotations

import argparse
import socketserver
import sys
from wsgiref.simple_server import WSGIServer, make_server


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client never holds up a stop
    allow_reuse_address = True


def serve(app, host: str, port: int) -> ThreadingServer:
    """A server bound to host:port (OSError if taken); it logs each request to stderr."""
    return make_server(host, port, app, server_class=ThreadingServer)


def main() -> None:
    from employee_directory.web import App

    parser = argparse.ArgumentParser(prog="python -m employee_directory")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=80)
    args = parser.parse_args()
    try:
        server = serve(App(), args.host, args.port)
    except OSError as exc:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {exc.strerror}")
    print(f"serving on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
