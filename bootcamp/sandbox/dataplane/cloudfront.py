"""CloudFront: a distribution's DomainName answers on this machine, caches, and fetches from its origin
through the edge, from CloudFront's own addresses.

`http://d1a2b3c4d5e6f7.cloudfront.localhost:<sandbox port>/path` stands for a viewer's request to
`http://d1a2b3c4d5e6f7.cloudfront.net/path` (and `443--NAME`, as the edge's port prefix, for the same over
HTTPS: the sandbox has no certificates, so that name stands for the TLS side). As CloudFront does:

- the first cache behaviour whose path pattern matches (`*` any characters, `?` one; case-sensitive),
  else the default one; a method the behaviour does not allow: 403; its viewer protocol policy:
  `redirect-to-https` answers HTTP with 301 to the HTTPS name, `https-only` with 403;
- a disabled distribution answers 403;
- GET and HEAD (and OPTIONS, when cached) are served from the cache while fresh. How long an answer
  stays fresh comes from the behaviour's cache policy (or its legacy TTLs) and the origin's
  Cache-Control: s-maxage or max-age clamped to [MinTTL, MaxTTL]; no-store, no-cache or private keep
  it out unless MinTTL > 0 (then MinTTL); without Cache-Control, DefaultTTL; MaxTTL 0 caches nothing
  (Managed-CachingDisabled). Only 200, 203, 300, 301 and 410 answers are kept. The cache key is the
  path and what the cache policy puts in it (query strings, headers); a stale answer with an ETag is
  revalidated with If-None-Match (a 304 refreshes it: RefreshHit);
- to the origin (the custom origin's DomainName, e.g. the ALB's, on its HTTP or HTTPS port as the origin
  protocol policy says) it forwards what the origin request policy and the cache key name (Managed-
  AllViewer: every header, Host included, every query string and cookie; without one only the cache key's,
  and Host is the origin's), adds X-Forwarded-For, Via and X-Amz-Cf-Id, and calls `Edge.request` with a
  caller address from the managed prefix list com.amazonaws.global.cloudfront.origin-facing: a load
  balancer whose security group admits only that list answers CloudFront and drops this machine;
- an origin that cannot be reached: 502 (refused, or no such name) or 504 (dropped, after the edge's drop
  time), with CloudFront's error page;
- every answer carries `X-Cache` (`Hit from cloudfront`, `RefreshHit from cloudfront`, `Miss from
  cloudfront`, `Error from cloudfront`), `Via: 1.1 <32 hex>.cloudfront.net (CloudFront)`,
  `X-Amz-Cf-Pop` and `X-Amz-Cf-Id`; a cached one also `Age` (seconds, sandbox time, since it was fetched).

Not modelled: compression, signed URLs, Lambda@Edge and functions, origin groups and failover, error
caching (AWS keeps 4xx/5xx for 10 s), invalidations (CreateInvalidation is accepted, nothing is evicted).
The cache is one LRU of at most CACHE_BYTES; a distribution's config change (its ETag) starts it afresh.
"""

from __future__ import annotations

import base64
import fnmatch
import ipaddress
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from bootcamp.sandbox.dataplane import adapter
from bootcamp.sandbox.dataplane.balancer import Answer
from bootcamp.sandbox.dataplane.edge import CALLER as VIEWER  # this machine, as the internet sees it
from bootcamp.sandbox.dataplane.edge import read_request
from bootcamp.sandbox.dataplane.names import is_distribution_name, split_host

CACHE_BYTES = 256 * 1024 * 1024
CACHED_STATUSES = (200, 203, 300, 301, 410)
FALLBACK_CALLER = "130.176.0.10"  # in 130.176.0.0/18, one of the origin-facing ranges
POP = "SEA19-C1"  # an edge location of us-west-2's: Seattle
PHRASES = {301: "Moved Permanently", 403: "Forbidden", 502: "Bad Gateway", 504: "Gateway Timeout"}
FORWARDED_ALWAYS = ("content-type", "content-length")  # a body's own headers go with it
DIRECTIVE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)", re.I)


@dataclass
class Entry:
    status: int
    phrase: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    fetched: float  # time.monotonic() when it came from the origin (or was last revalidated)
    ttl: float  # AWS seconds it stays fresh

    @property
    def etag(self) -> str:
        return next((v for k, v in self.headers if k.lower() == "etag"), "")


def matches(pattern: str, path: str) -> bool:
    """CloudFront's path patterns: case-sensitive, `*` any characters (slashes too), `?` one; a leading `/` optional."""
    bare = path.split("?", 1)[0]
    pattern = pattern if pattern.startswith("/") else "/" + pattern
    return fnmatch.fnmatchcase(bare, pattern.replace("[", "[[]"))


def behaviour_for(distribution: adapter.Distribution, path: str) -> adapter.CfBehaviour:
    return next((b for b in distribution.behaviours if b.path_pattern and matches(b.path_pattern, path)),
                distribution.behaviours[-1])


def ttl_of(policy: adapter.CfPolicy, headers) -> float:
    """How many seconds an origin's answer stays in the cache (0: not kept), as CloudFront works it out."""
    if policy.max_ttl <= 0:
        return 0.0
    control = ", ".join(v for k, v in headers if k.lower() == "cache-control").lower()
    ages = {name.lower(): int(value) for name, value in DIRECTIVE.findall(control)}
    if "s-maxage" in ages or "max-age" in ages:
        age = ages.get("s-maxage", ages.get("max-age"))
        return float(min(policy.max_ttl, max(policy.min_ttl, age)))
    if any(word in control for word in ("no-store", "no-cache", "private")):
        return float(policy.min_ttl)
    return float(min(policy.max_ttl, max(policy.min_ttl, policy.default_ttl)))


def _query_part(query: str, behaviour: str, names: tuple[str, ...]) -> str:
    if behaviour == "all":
        return query
    pairs = [p for p in query.split("&") if p]
    if behaviour == "whitelist":
        return "&".join(p for p in pairs if p.split("=", 1)[0] in names)
    if behaviour == "allExcept":
        return "&".join(p for p in pairs if p.split("=", 1)[0] not in names)
    return ""


def cache_key(distribution: adapter.Distribution, behaviour: adapter.CfBehaviour, policy: adapter.CfPolicy,
              method: str, path: str, headers: dict) -> tuple:
    bare, _, query = path.partition("?")
    lowered = {k.lower(): v for k, v in headers.items()}
    named = tuple((h, lowered.get(h, "")) for h in policy.header_names) if policy.headers == "whitelist" else ()
    return (distribution.id, distribution.etag, behaviour.path_pattern, "HEAD" if method == "HEAD" else "GET",
            bare, _query_part(query, policy.query_strings, ()), named)


def forwarded(behaviour: adapter.CfBehaviour, policy: adapter.CfPolicy, origin: adapter.CfOrigin,
              headers: dict, viewer_host: str) -> dict:
    """The viewer's headers CloudFront sends on: the origin request policy's and the cache key's."""
    lowered = {k.lower(): (k, v) for k, v in headers.items()}
    rules = [p for p in (behaviour.origin_request_policy, policy) if p is not None]
    sent = {}
    for name, (key, value) in lowered.items():
        if name == "cookie":
            keep = any(r.cookies != "none" or r.headers == "allViewer" for r in rules)
        else:
            keep = name in FORWARDED_ALWAYS or any(
                r.headers in ("allViewer", "allViewerAndWhitelistCloudFront")
                or (r.headers == "allExcept" and name not in r.header_names)
                or (r.headers == "whitelist" and name in r.header_names) for r in rules)
        if keep:
            sent[key] = value
    if not any(k.lower() == "host" for k in sent):
        sent["Host"] = origin.domain
    elif "host" in lowered:
        sent[lowered["host"][0]] = viewer_host
    if not any(k.lower() == "user-agent" for k in sent):
        sent["User-Agent"] = "Amazon CloudFront"
    return sent


def request_id() -> str:
    """An X-Amz-Cf-Id: 56 characters of URL-safe base64, as CloudFront's look."""
    return base64.urlsafe_b64encode(os.urandom(40)).decode()[:54] + "=="


def error_page(status: int, why: str, cf_id: str) -> Answer:
    """CloudFront's own answer when it cannot give the origin's: its page, with Error from cloudfront."""
    phrase = PHRASES.get(status, "Error")
    body = (f'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">\n'
            f"<HTML><HEAD><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=iso-8859-1\">\n"
            f"<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n"
            f"<H1>{status} ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\n"
            f"{why}\n<BR clear=\"all\">\n<HR noshade size=\"1px\">\n<PRE>\nGenerated by cloudfront (CloudFront)\n"
            f"Request ID: {cf_id}\n</PRE>\n<ADDRESS>\n</ADDRESS>\n</BODY></HTML>").encode()
    return Answer("answer", why, status, phrase, (("Server", "CloudFront"), ("Content-Type", "text/html")), body)


class CloudFront:
    def __init__(self, edge, clock):
        self.edge = edge  # the way to the origin: Edge.request(host, ..., caller=...)
        self.clock = clock
        self.lock = threading.Lock()
        self.cache: OrderedDict[tuple, Entry] = OrderedDict()
        self.size = 0
        self.via = f"1.1 {os.urandom(16).hex()}.cloudfront.net (CloudFront)"

    def handles(self, environ) -> bool:
        return is_distribution_name(split_host(environ.get("HTTP_HOST", ""))[0])

    # --- the viewer's side ---------------------------------------------------------------------

    def request(self, host: str, method: str, path: str, headers: dict, body: bytes | None,
                caller: str = VIEWER) -> Answer:
        name, port = split_host(host)
        https = port == 443
        if port not in (None, 443):
            return Answer("refuse", f"CloudFront answers on ports 80 and 443, not {port}")
        distribution = adapter.distribution_by_domain(name)
        if distribution is None:
            return Answer("refuse", f"no distribution has the domain name {name}")
        cf_id = request_id()
        if not distribution.enabled:
            return self._mark(error_page(403, "Bad request. The distribution is disabled.", cf_id), "Error", cf_id)
        behaviour = behaviour_for(distribution, path)
        if method.upper() not in behaviour.methods:
            return self._mark(error_page(403, "This distribution is not configured to allow the HTTP request method "
                                              "that was used for this request.", cf_id), "Error", cf_id)
        if not https and behaviour.viewer_policy == "https-only":
            return self._mark(error_page(403, "This distribution accepts HTTPS only.", cf_id), "Error", cf_id)
        if not https and behaviour.viewer_policy == "redirect-to-https":
            where = f"http://443--{name}{':' + host.rsplit(':', 1)[1] if ':' in host else ''}{path}"
            moved = Answer("answer", "", 301, PHRASES[301], (("Server", "CloudFront"), ("Location", where),
                                                              ("Content-Type", "text/html")), b"")
            return self._mark(moved, "Redirect", cf_id)
        policy = behaviour.cache_policy or behaviour.legacy
        origin = next((o for o in distribution.origins if o.id == behaviour.origin_id), None)
        if origin is None:
            return self._mark(error_page(502, "The origin of this behaviour does not exist.", cf_id), "Error", cf_id)
        sent = forwarded(behaviour, policy, origin, headers, name)
        cacheable = method.upper() in behaviour.cached_methods and policy.max_ttl > 0
        if not cacheable:
            answer = self._fetch(distribution, origin, behaviour, policy, method, path, sent, body, caller, cf_id, https)
            return self._mark(answer, "Miss" if answer.status < 500 else "Error", cf_id)
        key = cache_key(distribution, behaviour, policy, method.upper(), path, headers)
        with self.lock:
            entry = self.cache.get(key)
            if entry is not None:
                self.cache.move_to_end(key)
        if entry is not None and self.clock.elapsed(entry.fetched) < entry.ttl:
            return self._from_cache(entry, "Hit", cf_id, headers)
        if entry is not None and entry.etag:
            again = self._fetch(distribution, origin, behaviour, policy, method, path,
                                {**sent, "If-None-Match": entry.etag}, None, caller, cf_id, https)
            if again.status == 304:
                entry.fetched, entry.ttl = time.monotonic(), ttl_of(policy, again.headers) or entry.ttl
                return self._from_cache(entry, "RefreshHit", cf_id, headers)
            answer = again
        else:
            answer = self._fetch(distribution, origin, behaviour, policy, method, path, sent, body, caller, cf_id, https)
        if answer.status >= 500 or answer.action != "answer":
            return self._mark(answer, "Error", cf_id)
        ttl = ttl_of(policy, answer.headers) if answer.status in CACHED_STATUSES else 0.0
        if ttl > 0:
            self._keep(key, Entry(answer.status, answer.phrase, answer.headers, answer.body, time.monotonic(), ttl))
        return self._mark(answer, "Miss", cf_id)

    def _from_cache(self, entry: Entry, outcome: str, cf_id: str, headers: dict) -> Answer:
        age = int(self.clock.elapsed(entry.fetched))
        wanted = {k.lower(): v for k, v in headers.items()}.get("if-none-match", "")
        if entry.etag and entry.etag in [t.strip() for t in wanted.split(",")]:
            kept = tuple((k, v) for k, v in entry.headers if k.lower() in ("etag", "cache-control"))
            return self._mark(Answer("answer", "", 304, "Not Modified", kept, b""), outcome, cf_id, age)
        return self._mark(Answer("answer", "", entry.status, entry.phrase, entry.headers, entry.body), outcome, cf_id, age)

    def _mark(self, answer: Answer, outcome: str, cf_id: str, age: int | None = None) -> Answer:
        if answer.action != "answer":
            return answer
        added = [("X-Cache", f"{outcome} from cloudfront"), ("Via", self.via), ("X-Amz-Cf-Pop", POP),
                 ("X-Amz-Cf-Id", cf_id)]
        if age is not None:
            added.append(("Age", str(age)))
        kept = tuple((k, v) for k, v in answer.headers if k.lower() not in ("x-cache", "via", "age"))
        return Answer(answer.action, answer.reason, answer.status, answer.phrase, kept + tuple(added), answer.body)

    def _keep(self, key: tuple, entry: Entry) -> None:
        with self.lock:
            old = self.cache.pop(key, None)
            self.size -= len(old.body) if old else 0
            self.cache[key] = entry
            self.size += len(entry.body)
            while self.size > CACHE_BYTES and self.cache:
                _, dropped = self.cache.popitem(last=False)
                self.size -= len(dropped.body)

    # --- the origin's side ---------------------------------------------------------------------

    def caller_for(self, distribution: adapter.Distribution, region: str) -> str:
        """An address of CloudFront's origin-facing ranges, as the origin's account lists them."""
        cidrs = [c for c in adapter.origin_facing_cidrs(distribution.account, region) if ":" not in c]
        if not cidrs:
            return FALLBACK_CALLER
        net = ipaddress.ip_network(sorted(cidrs)[0], strict=False)
        return str(net.network_address + min(10, net.num_addresses - 1))

    def _fetch(self, distribution, origin, behaviour, policy, method, path, headers, body, viewer, cf_id,
               https: bool) -> Answer:
        bare, _, query = path.partition("?")
        forwarded_query = query if (behaviour.origin_request_policy and
                                    behaviour.origin_request_policy.query_strings == "all") else \
            _query_part(query, policy.query_strings, ())
        target = origin.path + bare + (f"?{forwarded_query}" if forwarded_query else "")
        secure = origin.protocol_policy == "https-only" or (origin.protocol_policy == "match-viewer" and https)
        port = origin.https_port if secure else origin.http_port
        host = origin.domain.lower() if port == 80 else f"{port}--{origin.domain.lower()}"
        if not self.edge.handles({"HTTP_HOST": host}):
            return error_page(502, f"CloudFront could not resolve the origin {origin.domain}.", cf_id)
        region = host.split(".")[-3] if host.count(".") >= 3 else "us-east-1"
        sent = dict(headers)
        forwarded_for = next((v for k, v in sent.items() if k.lower() == "x-forwarded-for"), "")
        sent = {k: v for k, v in sent.items() if k.lower() != "x-forwarded-for"}
        sent["X-Forwarded-For"] = f"{forwarded_for}, {viewer}" if forwarded_for else viewer
        sent["Via"], sent["X-Amz-Cf-Id"] = self.via, cf_id
        answer = self.edge.request(host, method, target, sent, body, caller=self.caller_for(distribution, region))
        if answer.action == "drop":
            time.sleep(self.edge.drop)
            return error_page(504, f"CloudFront attempted to establish a connection with the origin, but it timed "
                                   f"out ({answer.reason}).", cf_id)
        if answer.action != "answer":
            return error_page(502, f"CloudFront wasn't able to connect to the origin ({answer.reason}).", cf_id)
        return answer

    # --- as a WSGI application -----------------------------------------------------------------

    def wsgi(self, environ, start_response):
        path, headers, body = read_request(environ)
        answer = self.request(environ.get("HTTP_HOST", ""), environ["REQUEST_METHOD"], path, headers, body)
        if answer.action != "answer":
            print(f"cloudfront: {answer.action} {environ.get('HTTP_HOST')}: {answer.reason}", flush=True)
            return self.edge._close(environ, answer.reason)
        start_response(f"{answer.status} {answer.phrase}",
                       [(k, v) for k, v in answer.headers if k.lower() != "content-length"]
                       + [("Content-Length", str(len(answer.body)))])
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [answer.body]
