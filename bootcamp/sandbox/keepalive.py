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

The common request (a request line of method, plain path and HTTP/1.1 or 1.0) is read without
http.server's general parser, turned into werkzeug's WSGI environ directly, and logged with the
line werkzeug would write (without its terminal colours: the log is a file). Anything else (an
absolute URL, a path with spaces or non-ASCII bytes, HTTP/0.9 or 2) goes through http.server's
and werkzeug's own code, as before. tests/test_sandbox_speedups.py compares both ways.
"""

from __future__ import annotations

import http.client
import io
import re
import sys
import time
import traceback

from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.exceptions import InternalServerError
from werkzeug.serving import WSGIRequestHandler, _wsgi_encoding_dance
from werkzeug.urls import unquote, uri_to_iri

IDLE_SECONDS = 120  # a kept connection with no request for this long is closed
UNLOGGED = "bootcamp.unlogged"
NO_BODY = {204, 304}
_DATE: list = [None, ""]  # (second, its HTTP date): shared by every connection's handler
_LOG_DATE: list = [None, ""]  # (second, the log line's date), likewise
# A path of printable ASCII starting with one "/", without "#" (a fragment): urlsplit leaves it
# whole, unquote changes only its %-escapes.
PLAIN_PATH = re.compile(r'/(?!/)[!"$-~]*')
# A request line read directly: a method, such a path (a "#" is the environ's to judge), HTTP/1.x.
PLAIN_REQUEST = re.compile(rb"([A-Z]+) (/(?!/)[!-~]*) (HTTP/1\.[01])\r?\n")


class _DirectEnviron(WSGIRequestHandler):
    """werkzeug's handler with its environ made directly for the common request."""

    def make_environ(self) -> dict:
        """werkzeug's environ for a plain path, built directly (moto's handler adds its part to it)."""
        path = self.path
        if not PLAIN_PATH.fullmatch(path) or self.server.ssl_context is not None:
            return super().make_environ()
        path_info, _, query = path.partition("?")
        if "%" in path_info:
            path_info = _wsgi_encoding_dance(unquote(path_info))
        address = self.client_address
        environ = {
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": self.rfile, "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.server.multithread, "wsgi.multiprocess": self.server.multiprocess,
            "wsgi.run_once": False, "werkzeug.socket": self.connection, "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "", "PATH_INFO": path_info, "QUERY_STRING": query,
            "REQUEST_URI": path, "RAW_URI": path, "REMOTE_ADDR": address[0], "REMOTE_PORT": address[1],
            "SERVER_NAME": self.server.server_address[0], "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
        }
        for key, value in self.headers.items():
            if "_" in key:
                continue
            key = key.upper().replace("-", "_")
            value = value.replace("\r\n", "")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = f"HTTP_{key}"
                if key in environ:
                    value = f"{environ[key]},{value}"
            environ[key] = value
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return super().make_environ()  # werkzeug's dechunking input
        return environ


class KeepAliveHandler(MotoRequestHandler, _DirectEnviron):
    """moto's request handler, serving many requests per connection (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"  # werkzeug gives it only to a threaded server's handler
    timeout = IDLE_SECONDS
    disable_nagle_algorithm = True  # an answer is one write; do not hold it back

    def make_environ(self) -> dict:
        """moto's environ (werkzeug's, with the original spelling of underscored S3 metadata names kept);
        for a request without an underscore in any header name, where that adds only an empty record,
        werkzeug's made directly with that record."""
        if any("_" in name for name in self.headers.keys()):
            return super().make_environ()
        environ = _DirectEnviron.make_environ(self)
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = {}
        return environ

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

    def parse_request(self) -> bool:
        """http.server's parse_request for a plain request line and header block, in fewer steps (the
        same attributes set, the same connection rule); anything else is left to it."""
        plain = PLAIN_REQUEST.fullmatch(self.raw_requestline)
        if plain is None:
            return super().parse_request()
        command, path, version = (part.decode("ascii") for part in plain.groups())
        self.requestline = self.raw_requestline.decode("ascii").rstrip("\r\n")
        self.command, self.path, self.request_version = command, path, version
        self.close_connection = version == "HTTP/1.0"
        try:
            self.headers = headers = http.client.parse_headers(self.rfile, _class=self.MessageClass)
        except http.client.LineTooLong as err:
            self.send_error(431, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(431, "Too many headers", str(err))
            return False
        connection = headers.get("Connection", "").lower()
        if connection in ("close", "keep-alive"):
            self.close_connection = connection == "close"
        if "Expect" in headers and version == "HTTP/1.1" and headers["Expect"].lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def log_request(self, code="-", size="-") -> None:
        """werkzeug's request log line, without the terminal colours it gives all but a 200 (the sandbox
        writes its log to a file; moto's own server, through logging, has them stripped there too), and
        for a plain path without its IRI step, which changes nothing of one."""
        path = getattr(self, "path", None)
        if path is None:  # the request line could not be read
            message = self.requestline
        elif PLAIN_PATH.fullmatch(path) and "%" not in path and not path.endswith("?"):
            message = f"{self.command} {path} {self.request_version}"
        else:
            message = f"{self.command} {uri_to_iri(path)} {self.request_version}"
        self.log("info", '"%s" %s %s', message.translate(self._control_char_table), str(code), size)

    def log_date_time_string(self) -> str:
        """The log line's time, made once a second."""
        second = int(time.time())
        if _LOG_DATE[0] != second:
            _LOG_DATE[:] = [second, super().log_date_time_string()]
        return _LOG_DATE[1]

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
