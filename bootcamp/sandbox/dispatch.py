"""Faster routing inside moto: work moto redoes on every request, done once.

A profile of the sandbox under one boto3 client's loop of calls (see bench/sandbox_speed.py)
showed two lookups whose answer never changes while the server runs, together about a third
of its time per call:

- moto's DomainDispatcherApplication finds the backend for a host by listing moto's package
  folder on disk (a stat of every service folder) and then trying every service's URL
  patterns; the answer depends only on the host;
- moto's BaseResponse lists the methods of its response class (inspect.getmembers) to see
  whether it implements the action; the answer depends only on the class.

Both are kept here per host and per class. Classes are changed (by the sandbox's own
extensions) only in `build_app`, before the first request.

A second profile, with those gone, showed smaller repeats, each a few percent of a call:
a request's raw path and URL parsed again on each of their uses, S3's choice between
bucket-in-host and bucket-in-path made by a dozen regular expressions three times per call,
and a request id drawn one character at a time. tests/test_sandbox_speedups.py checks that
the answers stay byte for byte those of `--no-speedups`.

A third profile (bench/sandbox_speed.py's list_buckets loop under py-spy) put a sixth of a call
in Flask around moto's handler: an application and request context pushed and popped, the
session interface asked, signals sent, the response finalised. moto's handlers need none of it:
each takes the request, its raw URL and its headers and answers a (status, headers, body)
tuple. `DirectRoutes` finds the handler by the backend app's own URL map and calls it as moto's
Flask view does; what that map does not match, or a view that is not a moto handler, goes to
Flask as before.

The same profile put a tenth of a call in reading the request's headers: Python's http.server
hands them to the email package's feed parser. `quicker_header_parsing` reads a plain header
block (a name, a colon and a one-line value each) into the same message object directly, and
leaves anything else (folded lines, a line without a colon) to the email parser.

moto's serializer, the fourth profile's find, is sped up in answers.py.

A fifth, of the handler alone (fed recorded boto3 requests in one process, under cProfile), found
more work done again within a call, each one to four percent of it: the URL map matched anew for
the same host, path and method (`DirectRoutes` keeps the endpoint); every S3 parameter moto looks
for trying the body as JSON (`remember_bodies_not_json`); the bucket name taken from the URL three
times (`remember_s3_addressing`); an EC2 filter's pattern made for every resource's tags
(`remember_filter_patterns`); moto's header view spelling every header's name twice a call
for the one kind of name it keeps (`quicker_header_views`); and Flask's Response rebuilding
moto's headers, then copying them to answer (`_plain_answer` writes the same list directly).
"""

from __future__ import annotations

import functools
import os
import re
import threading

import moto.core.responses as moto_responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

_UNKNOWN = object()
PLAIN_HOST = re.compile(r"[a-z0-9.-]+(:[0-9]+)?")  # a host werkzeug's URL helpers leave as it is


class CachedDispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves each host; its apps parse requests lighter."""

    def __init__(self, create_app):
        super().__init__(lambda service: DirectRoutes(_lighter(create_app(service))))
        self.backend_of_host: dict[str, object] = {}

    def get_backend_for_host(self, host):
        if host is None:
            return None
        backend = self.backend_of_host.get(host, _UNKNOWN)
        if backend is _UNKNOWN:
            backend = self.backend_of_host[host] = super().get_backend_for_host(host)
        return backend


ROUTE_KEYS = ("HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO", "REQUEST_METHOD", "wsgi.url_scheme",
              "HTTP_CONNECTION", "HTTP_UPGRADE")  # what werkzeug's URL map reads of an environ to match it


class DirectRoutes:
    """A backend's Flask app whose moto handlers are called directly (see the module's docstring).

    The endpoint its URL map matches is kept per host, path and method (all the match reads of the
    environ but the query, which only a redirect would use; a redirect, like no match, is not kept):
    the routes are all added before the first request.
    """

    def __init__(self, app):
        self.app = app
        self.endpoints: dict[tuple, str] = {}

    def __getattr__(self, name):  # what else asks for the app gets Flask's
        return getattr(self.app, name)

    def __call__(self, environ, start_response):
        key = tuple(map(environ.get, ROUTE_KEYS))
        endpoint = self.endpoints.get(key)
        if endpoint is None:
            try:
                endpoint, _ = self.app.url_map.bind_to_environ(environ).match()
            except HTTPException:  # no route, or not that method: Flask's own answer
                return self.app(environ, start_response)
            if len(self.endpoints) > 10_000:  # S3's paths name keys: start again rather than grow
                self.endpoints.clear()
            self.endpoints[key] = endpoint
        handler = getattr(self.app.view_functions.get(endpoint), "callback", None)
        if handler is None:
            return self.app(environ, start_response)
        return _handled(handler, self.app.request_class(environ))(environ, start_response)


def _handled(handler, request):
    """What moto's Flask view answers for a request: the handler's answer as a Flask response; an
    error the handler raises as werkzeug's (moto's AWS errors are werkzeug exceptions)."""
    from botocore.exceptions import ClientError
    from flask import Response
    from moto.moto_api import recorder

    recorder._record_request(request)
    try:
        result = handler(request, request.raw_url, dict(request.headers.items()))  # moto's dict(headers), in one pass
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    except HTTPException as exc:
        return exc
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    direct = _plain_answer(status, headers, content, request.method)
    if direct is not None:
        return direct
    response = Response(response=content, status=status, headers=headers)
    if request.method == "HEAD" and "content-length" in headers:
        response.headers["Content-Length"] = headers["content-length"]
    return response


NO_BODY_STATUS = {204, 304}
SET_APART = {"location", "content-location"}  # headers werkzeug rewrites as it answers


def _plain_answer(status, headers, content, method: str):
    """The WSGI answer Flask's Response (as `_handled` makes it) gives for a plain answer, made directly:
    an int status of a known reason with a body, text or bytes content, headers a dict of text values
    on one line each, no Location. None for anything else (Flask answers it)."""
    if (type(status) is not int or status not in HTTP_STATUS_CODES or status < 200 or status in NO_BODY_STATUS
            or not isinstance(content, (str, bytes)) or type(headers) is not dict):
        return None
    listed = []
    for name, value in headers.items():
        if type(name) is not str or type(value) is not str or "\n" in value or "\r" in value:
            return None
        if name.lower() in SET_APART:
            return None
        listed.append((name, value))
    body = content.encode() if isinstance(content, str) else content
    if not any(name.lower() == "content-type" for name, _ in listed):
        listed.append(("Content-Type", "text/html; charset=utf-8"))  # Flask's default type
    _set(listed, "Content-Length", str(len(body)))
    if method == "HEAD" and "content-length" in headers:
        _set(listed, "Content-Length", headers["content-length"])
    status_line = f"{status} {HTTP_STATUS_CODES[status].upper()}"

    def answer(environ, start_response):
        start_response(status_line, listed)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    return answer


def _set(listed: list, name: str, value: str) -> None:
    """werkzeug's Headers.set on a list: the first header of that name (any case) becomes this one, later
    ones go; without one, it is added at the end."""
    lower = name.lower()
    found = [i for i, (key, _) in enumerate(listed) if key.lower() == lower]
    if not found:
        listed.append((name, value))
        return
    listed[found[0]] = (name, value)
    for i in reversed(found[1:]):
        del listed[i]


def _lighter(app):
    """A backend's Flask app whose requests read form data as werkzeug does (see `_lighter_class`)."""
    app.request_class = _lighter_class(app.request_class)
    return app


_LIGHTER: dict[type, type] = {}


def _lighter_class(request_class: type) -> type:
    """moto's request class without Flask's debug aid for form data.

    moto runs its Flask apps in debug mode, where Flask gives every request that reads its body
    a class made for it (a KeyError on `request.files` then names the missing enctype): a few
    percent of a call. moto never asks `files` of a request that is not multipart, so only that
    debugging message is lost.
    """
    from werkzeug.wrappers import Request as WerkzeugRequest

    if request_class not in _LIGHTER:
        _LIGHTER[request_class] = type(request_class.__name__, (request_class,), {
            "_load_form_data": WerkzeugRequest._load_form_data, "__doc__": _lighter_class.__doc__})
    return _LIGHTER[request_class]


def remember_action_names() -> None:
    """Make moto list a response class's methods once, not on every call it answers."""
    listed = moto_responses.method_names_from_class
    if getattr(listed, "remembers", False):
        return
    names: dict[type, list[str]] = {}
    lock = threading.Lock()

    def method_names_from_class(clazz):
        found = names.get(clazz)
        if found is None:
            with lock:
                found = names[clazz] = listed(clazz)
        return found

    method_names_from_class.remembers = True
    moto_responses.method_names_from_class = method_names_from_class


def remember_raw_urls() -> None:
    """Make moto work out a request's raw path and URL once per request, not on every use.

    moto's Request derives both from the WSGI environ (a urlparse each time) and asks for them
    several times per call. They are kept on the request, with the environ values they came
    from, so a request whose Host or RAW_URI is changed afterwards gets them worked out anew.
    """
    from moto.core.request import Request

    if getattr(Request.raw_url, "remembers", False):
        return
    raw_path, raw_url = Request.raw_path.fget, Request.raw_url.fget

    def remembered(name, derive):
        def get(self):
            key = (self.environ.get("HTTP_HOST"), self.environ.get("RAW_URI"))
            kept = self.__dict__.get(name)
            if kept is None or kept[0] != key:
                kept = self.__dict__[name] = (key, derive(self))
            return kept[1]

        return property(get, doc=derive.__doc__)

    def quick_raw_url(self) -> str:
        # moto's: werkzeug's url_root (whose uri_to_iri splits and rebuilds the URL; it changes a host
        # only where it has upper case, a percent escape or IDNA) without its slash, then the raw path.
        host = self.host
        if self.root_path or not PLAIN_HOST.fullmatch(host) or "xn--" in host:
            return raw_url(self)
        url = f"{self.scheme}://{host}{self.raw_path}"
        return f"{url}?{self.query_string.decode()}" if self.query_string else url

    Request.raw_path = remembered("_bootcamp_raw_path", raw_path)
    Request.raw_url = remembered("_bootcamp_raw_url", quick_raw_url)
    Request.raw_url.fget.remembers = True


def remember_s3_addressing() -> None:
    """Make moto's S3 decide once per Host whether buckets are named in the host or the path.

    moto decides it on every S3 call, several times, by a series of regular expressions over
    the Host header and two settings; the answer is kept per (host, settings).
    """
    from moto import settings
    from moto.s3 import responses as s3_responses
    from moto.s3.responses import S3Response

    decide = S3Response.subdomain_based_buckets
    if getattr(decide, "remembers", False):
        return
    answers: dict[tuple, bool] = {}

    def subdomain_based_buckets(request) -> bool:
        host = request.headers.get("host", request.headers.get("Host"))
        if not host:
            return decide(request)
        key = (host, settings.S3_IGNORE_SUBDOMAIN_BUCKETNAME, os.environ.get("MOTO_S3_CUSTOM_ENDPOINTS"))
        found = answers.get(key)
        if found is None:
            found = answers[key] = bool(decide(request))
        return found

    subdomain_based_buckets.remembers = True
    S3Response.subdomain_based_buckets = staticmethod(subdomain_based_buckets)
    # The bucket a URL names, either way (each a function of the URL alone), asked three times a call.
    s3_responses.bucket_name_from_url = functools.lru_cache(maxsize=4096)(s3_responses.bucket_name_from_url)
    s3_responses.bucketpath_bucket_name_from_url = functools.lru_cache(maxsize=4096)(
        s3_responses.bucketpath_bucket_name_from_url)


def remember_bodies_not_json() -> None:
    """Make moto try a request's body as JSON once, not once per parameter it looks for.

    moto's `_get_param` looks a parameter up in the query, then in the body parsed as JSON, then in
    the path. An S3 call asks for a few parameters, each a parse of a body (empty, an XML document,
    an object's bytes) that fails again. The body a parse failed on is kept on the response (by
    identity: moto may set another); for it, the lookup goes on to the path at once.
    """
    import json

    from moto.core.responses import BaseResponse

    if getattr(BaseResponse._get_param, "remembers", False):
        return
    moto_get_param = BaseResponse._get_param

    def _get_param(self, param_name, if_none=None):
        if self.automated_parameter_parsing:
            return moto_get_param(self, param_name, if_none)
        found = self.querystring.get(param_name)
        if found is not None:
            return found[0]
        body = self.body
        if body is not None and self.__dict__.get("_bootcamp_not_json") is not body:
            try:
                return json.loads(body)[param_name]
            except ValueError:  # the parse failed (indexing raises only the others)
                self._bootcamp_not_json = body
            except (KeyError, TypeError):
                pass
        if self.uri_match:
            try:
                return self.uri_match[param_name]
            except KeyError:
                pass
        return if_none

    _get_param.remembers = True
    BaseResponse._get_param = _get_param


def quicker_header_views() -> None:
    """Make moto's view of a request's headers list them as werkzeug's does when no name is to be kept.

    moto's view gives an underscored S3 metadata name its original spelling, looked up for every header
    of every listing (two a call); a request without such a name (see `keepalive.KeepAliveHandler`
    .make_environ) has an empty record of them, and its listing is werkzeug's own.
    """
    from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY, EnvironHeaders
    from werkzeug.datastructures import EnvironHeaders as WerkzeugEnvironHeaders

    if getattr(EnvironHeaders.__iter__, "quicker", False):
        return
    moto_iter, werkzeug_iter = EnvironHeaders.__iter__, WerkzeugEnvironHeaders.__iter__

    def __iter__(self):
        if self.environ.get(PRESERVED_HEADER_NAMES_ENVIRON_KEY):
            return moto_iter(self)
        return werkzeug_iter(self)

    __iter__.quicker = True
    EnvironHeaders.__iter__ = __iter__


def remember_filter_patterns() -> None:
    """Make moto's EC2 turn a filter value into its regular expression once, not once per resource.

    EC2 answers list each resource's tags through the tag backend, which translates the resource's id
    into a pattern (fnmatch's translate) every time: a few percent of a describe_subnets call.
    """
    from moto.ec2 import utils as ec2_utils
    from moto.ec2.models import tags as ec2_tags

    if hasattr(ec2_utils.simple_aws_filter_to_re, "cache_info"):
        return
    remembered = functools.lru_cache(maxsize=4096)(ec2_utils.simple_aws_filter_to_re)
    ec2_utils.simple_aws_filter_to_re = ec2_tags.simple_aws_filter_to_re = remembered


def quicker_request_ids() -> None:
    """Draw a response's 52-character request id in one call of moto's random source, not 52.

    Same characters, same length, same (seedable) generator: only the number of calls differs.
    """
    import string

    import moto.core.responses as responses
    from moto.moto_api._internal import mock_random

    if getattr(responses.gen_amzn_requestid_long, "quicker", False):
        return
    pool = string.ascii_letters + string.digits

    def gen_amzn_requestid_long(headerdict=None) -> str:
        req_id = "".join(mock_random.choices(pool, k=52))
        if isinstance(headerdict, dict):
            headerdict["x-amzn-requestid"] = req_id
        return req_id

    gen_amzn_requestid_long.quicker = True
    responses.gen_amzn_requestid_long = gen_amzn_requestid_long


PLAIN_HEADERS = re.compile(r"(?:[!-9;-~]+:[^\r\n]*\r?\n)*\r?\n")  # the email parser reads these alike


def quicker_header_parsing() -> None:
    """Read a request's (or a response's) plain header block without the email package's feed parser.

    The message made is the one `email.parser.Parser` makes of the same block: each header kept raw
    (the value after the colon without its leading blanks), in order, and an empty body.
    """
    import email.parser
    import http.client

    if getattr(http.client.parse_headers, "quicker", False):
        return

    def parse_headers(fp, _class=http.client.HTTPMessage):
        lines = http.client._read_headers(fp)
        text = b"".join(lines).decode("iso-8859-1")
        if not PLAIN_HEADERS.fullmatch(text):
            return email.parser.Parser(_class=_class).parsestr(text)
        message = _class()
        for line in lines[:-1]:
            name, value = line.decode("iso-8859-1").split(":", 1)
            message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
        message.set_payload("")
        return message

    parse_headers.quicker = True
    http.client.parse_headers = parse_headers

