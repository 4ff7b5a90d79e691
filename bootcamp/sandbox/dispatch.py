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
"""

from __future__ import annotations

import threading

import moto.core.responses as moto_responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_UNKNOWN = object()


class CachedDispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves each host."""

    def __init__(self, create_app):
        super().__init__(create_app)
        self.backend_of_host: dict[str, object] = {}

    def get_backend_for_host(self, host):
        if host is None:
            return None
        backend = self.backend_of_host.get(host, _UNKNOWN)
        if backend is _UNKNOWN:
            backend = self.backend_of_host[host] = super().get_backend_for_host(host)
        return backend


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
