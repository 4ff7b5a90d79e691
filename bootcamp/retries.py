"""Retries as botocore's standard mode does them, with a retry budget per caller and a bounded back-off.

botocore gives each client one retry quota. A class grade shares one client per service among
all learners (see bootcamp.classroom.access), so one learner's throttled account would spend
the quota of the whole class, where AWS throttles each account on its own. `install` keeps
botocore's retry rules (which errors, how many attempts, exponential back-off with jitter) and
gives every budget key (the learner whose call it is) a quota of its own. The back-off is
capped by the settings (BOOTCAMP_RETRY_BACKOFF), so tests retry without waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from botocore.retries import quota, standard

from bootcamp.settings import MAX_RETRY_BACKOFF as MAX_BACKOFF


def _one_budget(service: str, max_attempts: int, max_backoff: float) -> tuple[standard.RetryHandler,
                                                                                standard.RetryQuotaChecker]:
    """A standard-mode retry handler with a quota of its own, from botocore's parts."""
    adapter = standard.RetryEventAdapter()
    throttling = standard.ThrottlingErrorDetector(adapter)
    checker = standard.RetryQuotaChecker(quota.RetryQuota(), throttling)
    policy = standard.RetryPolicy(
        retry_checker=standard.StandardRetryConditions(max_attempts=max_attempts),
        retry_backoff=standard.ExponentialBackoff(max_backoff=max_backoff, service_name=service,
                                                  throttling_detector=throttling))
    return standard.RetryHandler(policy, adapter, checker, service_name=service), checker


class Budgets:
    """The retry handlers of one client, one per budget key, made on first use."""

    def __init__(self, service: str, max_attempts: int, max_backoff: float, key: Callable[[], str]):
        self._service, self._attempts, self._backoff, self._key = service, max_attempts, max_backoff, key
        self._lock = threading.Lock()
        self._budgets: dict[str, tuple] = {}

    def _budget(self) -> tuple:
        key = self._key()
        with self._lock:
            if key not in self._budgets:
                self._budgets[key] = _one_budget(self._service, self._attempts, self._backoff)
            return self._budgets[key]

    def needs_retry(self, **kwargs):
        return self._budget()[0].needs_retry(**kwargs)

    def release(self, **kwargs):
        self._budget()[1].release_retry_quota(**kwargs)


def install(client, max_backoff: float = MAX_BACKOFF, key: Callable[[], str] = lambda: "") -> None:
    """Replace the client's standard-mode retries by the same rules with a quota per key()
    (called in the calling thread) and waits of at most max_backoff seconds."""
    service = client.meta.service_model.service_id.hyphenize()
    attempts = client.meta.config.retries.get("total_max_attempts") or standard.DEFAULT_MAX_ATTEMPTS
    budgets = Budgets(service, attempts, max(0.0, max_backoff), key)
    unique = f"retry-config-{service}"
    client.meta.events.unregister(f"needs-retry.{service}", unique_id=unique)
    client.meta.events.register(f"needs-retry.{service}", budgets.needs_retry, unique_id=unique)
    # botocore's own quota stays hooked to after-call; nothing draws on it any more.
    client.meta.events.register(f"after-call.{service}", budgets.release)
