"""The sandbox's HTTP request handler: moto's, with connections kept open between calls.

werkzeug's development server answers every request with `Connection: close`, so a boto3
client opens a new TCP connection (and the server a new thread) for each call, and the
server then waits 10 ms on the closed request stream before it lets go. Here a request's
body is read whole before the application runs (so nothing is left unread on the
connection), the answer goes out in one write with its length, and the connection serves
the client's next call. Requests with a chunked body are left to werkzeug, which closes
the connection after them as before. An answer whose application set UNLOGGED in the environ
(the data plane's edge: a request to an instance or a load balancer, not to the API) writes no
request log line: formatting and redacting one cost about a tenth of such a request.
"""

from __future__ import annotations

import io
import time
import traceback

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.exceptions import InternalServerError

IDLE_SECONDS = 120  # a kept connection with no request for this long is closed
UNLOGGED = "bootcamp.unlogged"
NO_BODY = {204, 304}
_DATE: list = [None, ""]  # (second, its HTTP date): shared by every connection's handler


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler, serving many requests per connection (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"  # werkzeug gives it only to a threaded server's handler
    timeout = IDLE_SECONDS
    disable_nagle_algorithm = True  # an answer is one write; do not hold it back

    def run_wsgi(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return super().run_wsgi()
        self.environ = environ = self.make_environ()
        size = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"] = io.BytesIO(self.rfile.read(size) if size > 0 else b"")
        try:
            status, headers, body = _answer(self.server.app, environ)
        except Exception:  # as werkzeug does: a 500 page, the traceback in the log
            self.log_error("Error on request:\n%s", traceback.format_exc())
            self.close_connection = True
            status, headers, body = _answer(InternalServerError(), environ)
        if environ["REQUEST_METHOD"] == "HEAD":  # the length stays the app's; no body goes out
            self.wfile.write(self.head(status, headers, None))
        else:
            self.wfile.write(self.head(status, headers, len(body)) + body)

    def date_time_string(self, timestamp=None) -> str:
        """The Date header's text, made once a second rather than once an answer."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        second = int(time.time())
        if _DATE[0] != second:
            _DATE[:] = [second, super().date_time_string(second)]
        return _DATE[1]

    def head(self, status: str, headers: list[tuple[str, str]], length: int | None) -> bytes:
        """The status line and headers of an answer, as werkzeug's handler would send them."""
        code = int(status.split(None, 1)[0])
        if not self.environ.get(UNLOGGED):
            self.log_request(code)
        names = {name.lower() for name, _ in headers}
        if any(n.lower() == "connection" and v.lower() == "close" for n, v in headers):
            self.close_connection = True
        lines = [f"{self.protocol_version} {status}", f"Server: {self.version_string()}",
                 f"Date: {self.date_time_string()}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if length is not None and "content-length" not in names and code not in NO_BODY and code >= 200:
            lines.append(f"Content-Length: {length}")
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _answer(app, environ) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run a WSGI application to the end: its status, headers and whole body."""
    started: list = []
    chunks: list[bytes] = []

    def start_response(status, headers, exc_info=None):
        started[:] = [status, list(headers)]
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started[0], started[1], b"".join(chunks)
