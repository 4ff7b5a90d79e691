"""The edge: this machine plays the internet, and a request reaches an instance or a load balancer only where AWS lets it.

Two kinds of names, both under `.localhost` (curl and browsers send them to 127.0.0.1) on the
sandbox's port, which stands for port 80:

- `http://ec2-54-214-1-2.us-west-2.compute.localhost:<sandbox port>/` is a request from the
  internet to port 80 of the instance with public address 54.214.1.2 in us-west-2 (its
  PublicDnsName);
- `http://Web-Application-ALB-1234567890.us-west-2.elb.localhost:<sandbox port>/` is one to
  the load balancer's listener on port 80 (its DNSName).

A shell whose HTTP proxy is the sandbox (`http_proxy=http://127.0.0.1:<sandbox port>`) reaches
both the way a client on the internet does: `http://54.214.1.2/` (or `:P/` for port P) is a request
to that public IPv4 address of an instance in any region, and `http://<a load balancer's DNSName>/`
one to its listener; a guide's AWS commands run unchanged on a rehearsal so (bootcamp/rehearsal.py).

Another port P of either is reached as `P--NAME` (e.g. `8080--Web-Application-ALB-1234567890.us-west-2.elb.localhost`),
for a listener on 8080 or an app serving 8080. `verdict` judges the way to an instance hop by hop,
as the VPC would (reach.py holds the hops):

1. an instance that is running holds that public IPv4 address;
2. its VPC has an internet gateway attached;
3. its subnet's route table (the explicit association, else the VPC's main table) sends
   this machine's address to that gateway (the longest matching prefix wins);
4. its subnet's network ACL allows TCP 80 in from this machine and the reply out to the
   caller's port (rules by number, the first match decides; no match denies);
5. one of its security groups allows TCP 80 from this machine (stateful: the reply goes out);
6. the app listens on port 80.

A load balancer is judged the same way on its side: it must be internet-facing (an internal
one's addresses are private: the packet is dropped), 2-4 hold for one of its subnets (a node
there answers, as a client tries the addresses DNS gives), and one of its own security groups
allows the listener's port from this machine; then balancer.py answers as an ALB (no listener:
refused; no healthy target: 503; ...).

This machine's address, as the VPC sees it, is CALLER (198.51.100.1, a documentation address):
a rule for 0.0.0.0/0 covers it, one for another address does not. A packet AWS would drop
leaves the caller without an answer: the edge holds the connection for DROP_SECONDS
(BOOTCAMP_SANDBOX_DROP_SECONDS, default 2) and closes it. Where AWS answers with a reset
(nothing listens), the edge closes the connection at once. An app that is starting (its
instance just launched, started or rebooted) is waited for up to BOOT_WAIT.

`Edge.request(host, method, path, headers, body, caller=...)` is the one entry point, which
`wsgi` serves and an in-process front (lab 5's CloudFront, from its own addresses) may call.
"""

from __future__ import annotations

import os
import re
import socket
import time
from urllib.parse import urlsplit

from bootcamp.sandbox.dataplane import adapter, reach
from bootcamp.sandbox.dataplane.balancer import Answer, Balancer, error_page
from bootcamp.sandbox.dataplane.instances import listening
from bootcamp.sandbox.dataplane.names import ELB_ZONE, is_balancer_name, split_host

CALLER = "198.51.100.1"
PORT = 80  # the port a request through the edge is for, without a `P--` prefix
BOOT_WAIT = 10.0
FORWARD_TIMEOUT = 30.0
INSTANCE = re.compile(r"^ec2-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})\.([a-z]{2}(?:-[a-z]+)+-\d)\."
                      + re.escape(adapter.PUBLIC_ZONE) + "$")
LITERAL = re.compile(r"^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::(\d{1,5}))?$")  # a proxied request's IPv4 host
BALANCER = re.compile(r"^[a-z0-9-]+\.([a-z]{2}(?:-[a-z]+)+-\d)\." + re.escape(ELB_ZONE) + "$")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer",
              "content-length", "server", "date"}  # the front sends its own length, server and date


def drop_seconds(env=None) -> float:
    env = os.environ if env is None else env
    try:
        return max(0.0, float(env.get("BOOTCAMP_SANDBOX_DROP_SECONDS", "2")))
    except ValueError:
        return 2.0


def public_address(host: str) -> tuple[str, str] | None:
    """(public IP, region) that a Host header names, or None when it names no instance."""
    found = INSTANCE.match(split_host(host)[0])
    if not found:
        return None
    return ".".join(found.groups()[:4]), found.group(5)


def proxied(environ) -> bool:
    """Whether a request came as to an HTTP proxy: `GET http://HOST/... HTTP/1.1` (its Host is that HOST)."""
    return (environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").startswith("http://")


def address_literal(host: str) -> tuple[str, int] | None:
    """(IPv4 address, port) of a Host that is an address, not a name (this machine's own excepted)."""
    found = LITERAL.match(host.strip())
    if not found or found.group(1).startswith("127.") or not 0 < int(found.group(2) or PORT) < 65536:
        return None
    return found.group(1), int(found.group(2) or PORT)


def origin_form(uri: str) -> str:
    """A request target without its `http://host` (what a proxy sends on): `/path?query`."""
    if not uri.startswith("http://"):
        return uri
    parts = urlsplit(uri)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def read_request(environ) -> tuple[str, dict, bytes | None]:
    """A WSGI request as the edge's entries take it: its target (`/path?query`), headers and body."""
    headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if environ.get(key):
            headers[name] = environ[key]
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(size) if size else None
    path = origin_form(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "") or (
        environ.get("PATH_INFO", "/") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""))
    return path, headers, body


def balancer_region(host: str) -> str | None:
    """The region of the load balancer name a Host header names, or None."""
    name = split_host(host)[0]
    found = BALANCER.match(name) if is_balancer_name(name) else None
    return found.group(1) if found else None


def verdict(instance: adapter.Instance | None, net: adapter.Network, caller_port: int,
            serving: bool, caller: str = CALLER, port: int = PORT) -> Answer:
    """Whether AWS would carry a request from `caller` to this instance's `port`, and if not, why."""
    if instance is None or instance.state != "running" or not instance.public_ip:
        return Answer("drop", "no running instance has this public address")
    why = reach.internet_path(net, instance.vpc_id, instance.subnet_id, caller)
    if why:
        return Answer("drop", why)
    if not reach.acl_path(net, instance.vpc_id, instance.subnet_id, caller, port, caller_port):
        return Answer("drop", f"the network ACL of {instance.subnet_id} denies it")
    if not reach.group_allows(net, instance.security_groups, caller, port):
        return Answer("drop", f"no security group of {instance.id} allows TCP {port} from {caller}")
    if not serving:
        return Answer("refuse", f"nothing listens on port {port} of {instance.id}")
    return Answer("forward")


def balancer_verdict(balancer: adapter.Balancer | None, net: adapter.Network, caller_port: int,
                     caller: str = CALLER, port: int = PORT) -> Answer:
    """Whether AWS would carry a request from `caller` to a node of this load balancer on `port`."""
    if balancer is None:
        return Answer("refuse", "no load balancer has this DNS name")
    if balancer.scheme == "internal":
        return Answer("drop", f"{balancer.name} is internal: its addresses are private to {balancer.vpc_id}")
    reasons = []
    for subnet in balancer.subnets:
        why = reach.internet_path(net, balancer.vpc_id, subnet.id, caller)
        if not why and not reach.acl_path(net, balancer.vpc_id, subnet.id, caller, port, caller_port):
            why = f"the network ACL of {subnet.id} denies it"
        if not why:
            break
        reasons.append(why)
    else:
        return Answer("drop", reasons[0] if reasons else f"{balancer.name} has no subnets")
    if not reach.group_allows(net, balancer.security_groups, caller, port):
        return Answer("drop", f"no security group of {balancer.name} allows TCP {port} from {caller}")
    return Answer("forward")


def parse_answer(raw: bytes) -> Answer | None:
    """An HTTP/1.x answer read to the end of its connection: status, headers (hop-by-hop ones left out), body."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    status_line, *fields = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None
    kept, length = [], None
    for field in fields:
        name, _, value = field.partition(":")
        name, value = name.strip(), value.strip()
        if name.lower() == "content-length" and value.isdigit():
            length = int(value)
        if name and name.lower() not in HOP_BY_HOP:
            kept.append((name, value))
    return Answer("answer", "", int(parts[1]), parts[2] if len(parts) > 2 else "", tuple(kept),
                  body if length is None else body[:length])


def answer_size(raw: bytes, method: str) -> int | None:
    """How many bytes an HTTP/1.x answer that begins with `raw` has in all, once its head is in and
    says (its Content-Length, or none at all for HEAD, 1xx, 204 and 304); else None: read to the close."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = raw[:end].decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if method.upper() == "HEAD" or 100 <= status < 200 or status in (204, 304):
        return end + 4
    fields = {name.strip().lower(): value.strip() for name, _, value in (f.partition(":") for f in head[1:])}
    length = fields.get("content-length", "")
    return end + 4 + int(length) if length.isdigit() and "transfer-encoding" not in fields else None


class Edge:
    def __init__(self, instances, health=None):
        self.instances = instances
        self.drop = drop_seconds()
        self.balancer = Balancer(instances, health, self.forward) if health is not None else None

    def handles(self, environ) -> bool:
        host = environ.get("HTTP_HOST", "")
        return (public_address(host) is not None or balancer_region(host) is not None
                or (proxied(environ) and address_literal(host) is not None))

    # --- the one entry -------------------------------------------------------------------------

    def request(self, host: str, method: str, path: str, headers: dict, body: bytes | None,
                caller: str = CALLER, caller_port: int = 0) -> Answer:
        """A request from `caller` to the instance or load balancer `host` names: the answer, or why none."""
        name, port = split_host(host)
        port = port or PORT
        region = balancer_region(host)
        if region is not None:
            found, place = adapter.find_balancer(name, region)
            net = place.network if place is not None else adapter.Network()
            judged = balancer_verdict(found, net, caller_port, caller, port)
            if judged.action != "forward":
                return judged
            if self.balancer is None:
                return Answer("refuse", "the sandbox runs no load balancers")
            return self.balancer.serve(found, port, method, path, headers, body, caller, place)
        literal = address_literal(host)
        if literal is not None:  # a public address, through the sandbox as a proxy: any region's
            (ip, port), region = literal, None
            held = adapter.routed_instance(None, ip)
            region = held.region if held is not None else None
        else:
            ip, region = public_address(host)
        instance, place = adapter.find_instance(region, ip) if region is not None else (None, None)
        net = place.network if place is not None else adapter.Network()
        app = self._serving(instance, port)
        judged = verdict(instance, net, caller_port, app is not None, caller, port)
        if judged.action != "forward":
            return judged
        return self.forward(app, method, path, headers, body)

    # --- as a WSGI application -----------------------------------------------------------------

    def wsgi(self, environ, start_response):
        environ["bootcamp.unlogged"] = True  # keepalive.UNLOGGED: no request log line (drops and refusals print why)
        path, headers, body = read_request(environ)
        try:
            caller_port = int(environ.get("REMOTE_PORT") or 0)
        except ValueError:
            caller_port = 0
        answer = self.request(environ.get("HTTP_HOST", ""), environ["REQUEST_METHOD"], path, headers, body,
                              caller_port=caller_port)
        if answer.action != "answer":
            print(f"edge: {answer.action} {environ.get('HTTP_HOST')}: {answer.reason}", flush=True)  # the sandbox log
            if answer.action == "drop":
                time.sleep(self.drop)
                if answer.status == 504:  # dropped between the load balancer and its target: the ALB answers
                    answer = error_page(504)
        if answer.action != "answer":
            return self._close(environ, answer.reason)
        start_response(f"{answer.status} {answer.phrase}",
                       list(answer.headers) + [("Content-Length", str(len(answer.body)))])
        return [answer.body]

    # --- the instance's app ----------------------------------------------------------------------

    def _serving(self, instance: adapter.Instance | None, port: int = PORT):
        """The instance's app when it listens on `port` (waiting while it boots), else None."""
        if instance is None or instance.state != "running":
            return None
        deadline = time.monotonic() + BOOT_WAIT
        while True:
            app = self.instances.app(instance.account, instance.id)
            if app is not None and app.instance.boots != instance.boots:
                app = None  # rebooted since the last pass: the next one starts it again
            if app is not None and app.app_port != port:
                return None
            if app is not None and app.proc is not None and (app.listening or listening(app.port)):
                app.listening = True
                return app
            starting = app is None or (app.proc is not None and app.proc.poll() is None)
            if not starting or not self._may_serve(instance) or time.monotonic() > deadline:
                return None
            self.instances.settle(timeout=0.5)
            time.sleep(0.05)

    def _may_serve(self, instance: adapter.Instance) -> bool:
        """Whether the instance should run an app (one is wanted and not refused)."""
        with self.instances.lock:
            return instance.key not in self.instances.why_not

    @staticmethod
    def forward(app, method: str, path: str, headers: dict, body: bytes | None) -> Answer:
        """The app's answer to one request (or a refusal when it closed the connection).

        One HTTP/1.0 exchange on a plain socket (the app closes after each answer anyway): no name
        lookup for 127.0.0.1 and no email-parser headers, which cost http.client about 1 ms a request.
        The answer is read to its Content-Length, not to the app's close: the app logs and tidies up
        before it closes, as a client reading the app directly does not wait for either."""
        lines = [f"{method} {path} HTTP/1.0"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in HOP_BY_HOP]
        lines += ["Connection: close"] + ([f"Content-Length: {len(body)}"] if body else [])
        chunks, size, whole = [], 0, None
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(FORWARD_TIMEOUT)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(("127.0.0.1", app.port))
                sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
                while whole is None or size < whole:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                    if whole is None:
                        whole = answer_size(b"".join(chunks), method)
        except OSError:
            app.listening = False  # it may have just ended: check again next time
            return Answer("refuse", "the app closed the connection")
        answer = parse_answer(b"".join(chunks))
        if answer is None:
            return Answer("refuse", "the app's answer was not HTTP")
        return answer

    @staticmethod
    def _close(environ, reason: str):
        """End the connection without an answer, as a dropped or refused packet leaves a client."""
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise ConnectionAbortedError(f"edge: {reason}")
