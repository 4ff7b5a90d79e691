"""Injected faults: the next N calls (of one account, or of anyone) answer an error, for testing
retries and error lines. On AWS each account is throttled on its own, so faults can be too."""

from __future__ import annotations

import threading

ANY = ""  # faults for whichever account calls next


class Faults:
    """Countdowns of injected errors, per account (ANY: every account's calls count down one)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._left: dict[str, tuple[int, str]] = {}  # account -> (calls left, code; "" = throttling)

    def inject(self, count: int, code: str = "", account: str = ANY) -> dict:
        with self._lock:
            if count > 0:
                self._left[account] = (count, code)
            else:
                self._left.pop(account, None)
        return {"count": max(count, 0), "code": code, "account": account}

    def take(self, account: str) -> str | None:
        """The error code this call of this account answers ("" throttling), or None to serve it."""
        if not self._left:  # the common case, without the lock
            return None
        with self._lock:
            for who in (account, ANY):
                left, code = self._left.get(who, (0, ""))
                if left > 0:
                    self._left[who] = (left - 1, code)
                    if left == 1:
                        del self._left[who]
                    return code
        return None


def wanted(body: object) -> tuple[int, str, str]:
    """(count, code, account) from a POST to /_bootcamp/faults; ValueError says what is wrong."""
    if not isinstance(body, dict):
        raise ValueError('the body must be a JSON object: {"count": N, "code": "...", "account": "..."}')
    count, code, account = body.get("count", 0), body.get("code", ""), body.get("account") or ANY
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError("'count' must be a whole number of calls (0 clears)")
    if not isinstance(code, str):
        raise ValueError("'code' must be an error code such as ExpiredToken (empty: throttling)")
    if not isinstance(account, str) or not (account == ANY or (len(account) == 12 and account.isdigit())):
        raise ValueError("'account' must be a 12-digit account id")
    return count, code, account
