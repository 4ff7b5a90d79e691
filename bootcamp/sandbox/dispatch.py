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

A fourth (describe_vpcs) put a tenth of a call in moto's serializer working out, for every
attribute of every object of every answer, which names to look it up by (the shape's name,
snake case, the class or shape name stripped as a prefix, an alias in the class's Meta).
Those names depend only on the attribute, its shape and parent shape and the object's class:
`remember_attribute_keys` works each list out once.
"""

from __future__ import annotations

import os
import re
import threading

import moto.core.responses as moto_responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from werkzeug.exceptions import HTTPException

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


class DirectRoutes:
    """A backend's Flask app whose moto handlers are called directly (see the module's docstring)."""

    def __init__(self, app):
        self.app = app

    def __getattr__(self, name):  # what else asks for the app gets Flask's
        return getattr(self.app, name)

    def __call__(self, environ, start_response):
        try:
            endpoint, _ = self.app.url_map.bind_to_environ(environ).match()
        except HTTPException:  # no route, or not that method: Flask's own answer
            return self.app(environ, start_response)
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
        result = handler(request, request.raw_url, dict(request.headers))
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    except HTTPException as exc:
        return exc
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    response = Response(response=content, status=status, headers=headers)
    if request.method == "HEAD" and "content-length" in headers:
        response.headers["Content-Length"] = headers["content-length"]
    return response


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


def remember_attribute_keys() -> None:
    """moto's serializer's candidate names for an attribute, worked out once per attribute, shape,
    parent shape and object class (the answers' objects are of a few hundred classes and shapes)."""
    from moto.core import serialize

    picker = serialize.XFormedAttributePicker
    if getattr(picker.get_possible_keys, "remembered", False):
        return
    work_out = picker.get_possible_keys
    names: dict[tuple, tuple[str, ...]] = {}

    def get_possible_keys(self, context):
        obj, shape = context.obj, context.shape
        if (type(self) is not picker or self.alias_providers is not serialize.DEFAULT_ALIAS_PROVIDERS
                or "Meta" in getattr(obj, "__dict__", ())):  # an object's own Meta: worked out each time
            return work_out(self, context)
        key = (context.key, shape, getattr(shape, "parent", None), type(obj))
        found = names.get(key)
        if found is None:
            if len(names) > 100_000:  # models made anew would hold on to their shapes here: start again
                names.clear()
            found = names[key] = tuple(work_out(self, context))
        return found

    get_possible_keys.remembered = True
    picker.get_possible_keys = get_possible_keys
