"""The edge: this machine plays the internet, and a request reaches an instance only where AWS lets it.

`http://ec2-54-214-1-2.us-west-2.compute.localhost:<sandbox port>/` is a request from the
internet to port 80 of the instance with public address 54.214.1.2 in us-west-2 (the name is
its PublicDnsName; curl and browsers send every *.localhost name to 127.0.0.1, and the
sandbox's port stands for port 80). `verdict` judges it hop by hop, as the VPC would:

1. an instance that is running holds that public IPv4 address;
2. its VPC has an internet gateway attached;
3. its subnet's route table (the explicit association, else the VPC's main table) sends
   this machine's address to that gateway (the longest matching prefix wins);
4. its subnet's network ACL allows TCP 80 in from this machine and the reply out to the
   caller's port (rules by number, the first match decides; no match denies);
5. one of its security groups allows TCP 80 from this machine (stateful: the reply goes out);
6. the app listens on port 80.

This machine's address, as the instance's network sees it, is CALLER (198.51.100.1, a
documentation address): a rule for 0.0.0.0/0 covers it, one for another address does not.
Failing 1 to 5, AWS drops the packet and the caller times out: the edge holds the connection
for DROP_SECONDS (BOOTCAMP_SANDBOX_DROP_SECONDS, default 2) and closes it without an answer.
Failing only 6, AWS answers with a reset: the edge closes the connection at once. An app that
is starting (its instance just launched, started or rebooted) is waited for up to BOOT_WAIT.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import socket
import time
from dataclasses import dataclass

from bootcamp.sandbox.dataplane import adapter
from bootcamp.sandbox.dataplane.instances import listening

CALLER = "198.51.100.1"
PORT = 80  # the instance port a request through the edge is for
BOOT_WAIT = 10.0
FORWARD_TIMEOUT = 30.0
HOST = re.compile(r"^ec2-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})\.([a-z]{2}(?:-[a-z]+)+-\d)\."
                  + re.escape(adapter.PUBLIC_ZONE) + r"\.?(?::\d+)?$")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


def drop_seconds(env=None) -> float:
    env = os.environ if env is None else env
    try:
        return max(0.0, float(env.get("BOOTCAMP_SANDBOX_DROP_SECONDS", "2")))
    except ValueError:
        return 2.0


def public_address(host: str) -> tuple[str, str] | None:
    """(public IP, region) that a Host header names, or None when it names no instance."""
    found = HOST.match(host.lower())
    if not found:
        return None
    return ".".join(found.groups()[:4]), found.group(5)


@dataclass(frozen=True)
class Verdict:
    action: str  # "forward", "drop", "refuse"
    reason: str


def _inside(address: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def _covers_port(low, high, port: int) -> bool:
    return low is None or (low <= port <= (high if high is not None else low))


def route_table(net: adapter.Network, instance: adapter.Instance) -> adapter.RouteTable | None:
    tables = [t for t in net.route_tables if t.vpc_id == instance.vpc_id]
    return (next((t for t in tables if instance.subnet_id in t.subnets), None)
            or next((t for t in tables if t.main), None))


def acl_allows(net: adapter.Network, instance: adapter.Instance, egress: bool, peer: str, port: int) -> bool:
    acls = [a for a in net.acls if a.vpc_id == instance.vpc_id]
    acl = (next((a for a in acls if instance.subnet_id in a.subnets), None)
           or next((a for a in acls if a.default), None))
    if acl is None:
        return True  # a VPC always has one; moto may not have made it yet
    for entry in sorted((e for e in acl.entries if e.egress == egress), key=lambda e: e.number):
        if entry.protocol in ("-1", "6", "tcp") and _inside(peer, entry.cidr) and (
                entry.protocol == "-1" or _covers_port(entry.from_port, entry.to_port, port)):
            return entry.allow
    return False


def group_allows(net: adapter.Network, instance: adapter.Instance, peer: str, port: int) -> bool:
    return any(r.protocol in ("-1", "tcp") and (r.protocol == "-1" or _covers_port(r.from_port, r.to_port, port))
               and any(_inside(peer, c) for c in r.cidrs)
               for group in instance.security_groups for r in net.ingress.get(group, ()))


def verdict(instance: adapter.Instance | None, net: adapter.Network, caller_port: int,
            serving: bool, caller: str = CALLER, port: int = PORT) -> Verdict:
    """Whether AWS would carry a request from `caller` to this instance's `port`, and if not, why."""
    if instance is None or instance.state != "running" or not instance.public_ip:
        return Verdict("drop", "no running instance has this public address")
    igws = [g for g, vpc in net.igw_attachments.items() if vpc == instance.vpc_id]
    if not igws:
        return Verdict("drop", f"no internet gateway is attached to {instance.vpc_id}")
    table = route_table(net, instance)
    routes = [r for r in (table.routes if table else ()) if _inside(caller, r.destination)]
    best = max(routes, key=lambda r: ipaddress.ip_network(r.destination, strict=False).prefixlen, default=None)
    if best is None or best.gateway not in igws:
        return Verdict("drop", f"route table {table.id if table else '(none)'} of {instance.subnet_id} "
                               "has no route to the internet gateway")
    if not acl_allows(net, instance, False, caller, port) or not acl_allows(net, instance, True, caller, caller_port):
        return Verdict("drop", f"the network ACL of {instance.subnet_id} denies it")
    if not group_allows(net, instance, caller, port):
        return Verdict("drop", f"no security group of {instance.id} allows TCP {port} from {caller}")
    if not serving:
        return Verdict("refuse", f"nothing listens on port {port} of {instance.id}")
    return Verdict("forward", "")


class Edge:
    def __init__(self, instances):
        self.instances = instances
        self.drop = drop_seconds()

    def handles(self, environ) -> bool:
        return public_address(environ.get("HTTP_HOST", "")) is not None

    def wsgi(self, environ, start_response):
        ip, region = public_address(environ.get("HTTP_HOST", ""))
        instance = adapter.instance_by_public_ip(region, ip)
        net = adapter.network(instance.account, region) if instance else adapter.Network()
        app = self._serving(instance)
        try:
            caller_port = int(environ.get("REMOTE_PORT") or 0)
        except ValueError:
            caller_port = 0
        judged = verdict(instance, net, caller_port, app is not None)
        if judged.action == "forward":
            return self._forward(app, environ, start_response)
        print(f"edge: {judged.action} {environ.get('HTTP_HOST')}: {judged.reason}", flush=True)  # the sandbox log
        if judged.action == "drop":
            time.sleep(self.drop)
        return self._close(environ, judged.reason)

    def _serving(self, instance: adapter.Instance | None):
        """The instance's app when it listens on port 80 (waiting while it boots), else None."""
        if instance is None or instance.state != "running":
            return None
        deadline = time.monotonic() + BOOT_WAIT
        while True:
            app = self.instances.app(instance.account, instance.id)
            if app is not None and app.instance.boots != instance.boots:
                app = None  # rebooted since the last pass: the next one starts it again
            if app is not None and app.app_port == PORT and app.proc is not None and (
                    app.listening or listening(app.port)):
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
    def _close(environ, reason: str):
        """End the connection without an answer, as a dropped or refused packet leaves a client."""
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise ConnectionAbortedError(f"edge: {reason}")

    @staticmethod
    def _forward(app, environ, start_response):
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
            if environ.get(key):
                headers[name] = environ[key]
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size) if size else None
        path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or (
            environ.get("PATH_INFO", "/") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""))
        connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=FORWARD_TIMEOUT)
        try:
            connection.request(environ["REQUEST_METHOD"], path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            app.listening = False  # it may have just ended: check again next time
            return Edge._close(environ, "the app closed the connection")
        connection.close()
        kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
        start_response(f"{answer.status} {answer.reason}", kept + [("Content-Length", str(len(data)))])
        return [data]
