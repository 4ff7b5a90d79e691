"""The load balancer: an ALB's listeners answer through the edge and forward, round robin, to healthy targets.

A request reaches a listener only where AWS would let it (the edge judges the path to the load
balancer: see edge.py). Then, as an ALB does:

- no listener on the port: the connection is refused (reset);
- an HTTPS listener: the sandbox has no certificates, so a plain request there gets the ALB's
  400 "The plain HTTP request was sent to HTTPS port";
- the listener's rules in priority order (path-pattern, host-header, http-request-method), then
  its default action: fixed-response and redirect answer here; forward picks a target group
  (by weight) and, in it, the next routable target (round robin over the healthy ones; an
  ALB fails open: with every target unhealthy it uses them all);
- no routable target: 503 Service Temporarily Unavailable, with the body and `Server: awselb/2.0`
  an ALB sends; a target the network keeps the node from (the target's security groups must
  allow the load balancer's, the ACLs both ways): 504 after the edge's drop time; a target
  where nothing listens on the port: 502 Bad Gateway;
- else the request goes to the instance's app with X-Forwarded-For (the caller), -Proto and
  -Port and an X-Amzn-Trace-Id, and its answer comes back as it is.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
import threading
import time
from dataclasses import dataclass

from bootcamp.sandbox.dataplane import adapter, reach

PHRASES = {400: "Bad Request", 502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
HTTPS_BODY = "The plain HTTP request was sent to HTTPS port"


@dataclass(frozen=True)
class Answer:
    """What the edge does with a request: answer it, drop it (the caller times out) or refuse it (reset)."""

    action: str  # "answer", "drop", "refuse"
    reason: str = ""
    status: int = 0
    phrase: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def error_page(status: int, message: str = "") -> Answer:
    """An ALB's own answer (its nginx-style page), e.g. 503 when no target is healthy."""
    phrase = PHRASES[status]
    title = f"{status} {phrase}"
    center = f"<center>{message}</center>\r\n" if message else ""
    body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            f"{center}</body>\r\n</html>\r\n").encode()
    return Answer("answer", title, status, phrase, (("Server", "awselb/2.0"), ("Content-Type", "text/html")), body)


def _matches(condition: adapter.Condition, method: str, path: str, host: str) -> bool:
    if condition.field == "path-pattern":
        return any(fnmatch.fnmatchcase(path.split("?", 1)[0], v) for v in condition.values)
    if condition.field == "host-header":
        return any(fnmatch.fnmatch(host.split(":", 1)[0].lower(), v.lower()) for v in condition.values)
    if condition.field == "http-request-method":
        return method.upper() in {v.upper() for v in condition.values}
    return False  # a condition the sandbox does not read never matches


def actions_for(listener: adapter.Listener, method: str, path: str, host: str) -> tuple[adapter.Action, ...]:
    for rule in listener.rules:
        if all(_matches(c, method, path, host) for c in rule.conditions):
            return rule.actions
    return listener.actions


def _redirect(action: adapter.Action, host: str, port: int, path: str) -> Answer:
    where = action.location
    bare, _, query = path.partition("?")
    protocol = str(where.get("Protocol", "#{protocol}")).replace("#{protocol}", "http").lower()
    values = {"#{host}": host.split(":", 1)[0], "#{port}": str(port), "#{path}": bare.lstrip("/"),
              "#{query}": query, "#{protocol}": "http"}

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    target_port = fill(str(where.get("Port", "#{port}")))
    location = f"{protocol}://{fill(str(where.get('Host', '#{host}')))}"
    location += "" if target_port in ("80", "443") else f":{target_port}"
    location += "/" + fill(str(where.get("Path", "/#{path}"))).lstrip("/")
    filled = fill(str(where.get("Query", "#{query}")))
    location += f"?{filled}" if filled else ""
    phrase = "Moved Permanently" if action.status == 301 else "Found"
    return Answer("answer", "", action.status, phrase, (("Server", "awselb/2.0"), ("Location", location)), b"")


class Balancer:
    def __init__(self, instances, health, forward):
        self.instances = instances
        self.health = health
        self.forward = forward  # (app, method, path, headers, body) -> Answer: the edge's way to an app
        self.lock = threading.Lock()
        self.turns: dict[tuple[str, str], itertools.count] = {}

    def listener(self, balancer: adapter.Balancer, port: int) -> adapter.Listener | None:
        return next((li for li in balancer.listeners if li.port == port), None)

    def serve(self, balancer: adapter.Balancer, port: int, method: str, path: str, headers: dict,
              body: bytes | None, caller: str, place: adapter.Place | None = None) -> Answer:
        """A request the edge let through to one of the load balancer's listener ports (`place`: the
        views of its account the edge found it in)."""
        listener = self.listener(balancer, port)
        if listener is None:
            return Answer("refuse", f"{balancer.name} has no listener on port {port}")
        if listener.protocol == "HTTPS":
            return error_page(400, HTTPS_BODY)
        if listener.protocol != "HTTP":
            return Answer("refuse", f"{balancer.name}'s listener on port {port} is {listener.protocol}, not HTTP")
        host = headers.get("Host", "")
        for action in actions_for(listener, method, path, host):
            if action.type == "fixed-response":
                phrase = PHRASES.get(action.status, "OK")
                return Answer("answer", "", action.status, phrase, (("Server", "awselb/2.0"),
                              ("Content-Type", action.content_type)), action.body.encode())
            if action.type == "redirect":
                return _redirect(action, host, port, path)
            if action.type == "forward" and action.target_groups:
                return self._forward(balancer, listener, action, method, path, headers, body, caller, place)
        return error_page(503)

    def _forward(self, balancer, listener, action, method, path, headers, body, caller, place) -> Answer:
        arns = [arn for arn, weight in action.target_groups if weight > 0] or [action.target_groups[0][0]]
        weights = [max(1, w) for arn, w in action.target_groups if arn in arns]
        arn = random.choices(arns, weights)[0] if len(arns) > 1 else arns[0]
        place = place or adapter.place(balancer.account, balancer.region)
        group = place.target_groups.get(arn)
        targets = self.health.routable(group) if group is not None else []
        if not targets:
            return error_page(503)
        with self.lock:
            turn = next(self.turns.setdefault((balancer.arn, arn), itertools.count()))
        target = targets[turn % len(targets)]
        instance = place.instances.get(target.id)
        if instance is None or instance.state != "running":
            return error_page(502)
        key = ("to target", balancer.arn, instance.id, target.port)  # the views of one version: one judgement
        blocked = place.memo.get(key)
        if blocked is None:
            blocked = place.memo[key] = reach.balancer_to_target(place.network, place.sources, balancer, instance,
                                                                 target.port)
        if blocked:
            return Answer("drop", blocked, 504)  # the edge holds it, then answers 504
        app = self.instances.app(instance.account, instance.id)
        if app is None or app.proc is None or app.app_port != target.port:
            return error_page(502)
        sent = {k: v for k, v in headers.items()}
        forwarded = sent.get("X-Forwarded-For")
        sent["X-Forwarded-For"] = f"{forwarded}, {caller}" if forwarded else caller
        sent["X-Forwarded-Proto"], sent["X-Forwarded-Port"] = "http", str(listener.port)
        sent["X-Amzn-Trace-Id"] = f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x}"
        answer = self.forward(app, method, path, sent, body)
        return answer if answer.action == "answer" else error_page(502)
