"""This EC2 instance: its AZ and id from instance metadata, and CPU stress for scaling."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import urllib.request

_facts = {}  # endpoint -> the facts, once found or given up on
_lock = threading.Lock()
_stress = {"until": None, "procs": []}
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # link-local: no proxy


def _ask(url: str, deadline: float, method: str = "GET", headers=None):
    try:
        request = urllib.request.Request(url, method=method, headers=headers or {})
        with _opener.open(request, timeout=max(deadline - time.monotonic(), 0.01)) as answer:
            return answer.read(4096).decode().strip() or None
    except (OSError, ValueError):  # refused, timeouts and HTTP errors are OSErrors
        return None


def _look_up(endpoint: str, done: threading.Event) -> None:
    # Asked until it answers, for 20 s: a busy sandbox's IMDS may be slow; off EC2 none answers.
    until = time.monotonic() + 20
    while True:
        deadline = time.monotonic() + 2
        token = _ask(endpoint.rstrip("/") + "/latest/api/token", deadline, "PUT",
                     {"X-aws-ec2-metadata-token-ttl-seconds": "300"})
        # No token (IMDSv1 only, or a hop limit that drops the PUT's answer): plain GETs.
        headers = {"X-aws-ec2-metadata-token": token} if token else {}
        facts = {key: _ask(f"{endpoint.rstrip('/')}/latest/meta-data/{path}", deadline, headers=headers)
                 for key, path in (("availability_zone", "placement/availability-zone"),
                                   ("instance_id", "instance-id"))}
        facts["imds"] = ("v2" if token else "v1") if any(facts.values()) else None
        if facts["imds"] or time.monotonic() > until:
            break
        time.sleep(0.2)
    _facts[endpoint] = facts
    done.set()


def metadata(endpoint: str, budget: float = 0.5) -> dict:
    """{"availability_zone", "instance_id", "imds": "v2"|"v1"|None}: nulls off EC2, or while the answers
    have not come within `budget` (asked in the background, once per process, from the first call)."""
    with _lock:
        if endpoint not in _facts:
            _facts[endpoint] = threading.Event()
            threading.Thread(target=_look_up, args=(endpoint, _facts[endpoint]), daemon=True).start()
        found = _facts[endpoint]
    if isinstance(found, threading.Event):
        found.wait(budget)
        found = _facts[endpoint]
    return dict(found) if isinstance(found, dict) else {"availability_zone": None, "instance_id": None, "imds": None}


def _burn(until: float) -> None:
    while time.time() < until:
        pass


def stress_status() -> dict:
    running = any(p.is_alive() for p in _stress["procs"])
    return {"running": running, "until": _stress["until"] if running else None}


def clamp(seconds: int) -> int:
    return max(1, min(seconds, 600))


def vcpus(env=None) -> int:
    """The instance's vCPUs: INSTANCE_VCPUS where the host is not the instance (the sandbox), else its CPUs."""
    value = (os.environ if env is None else env).get("INSTANCE_VCPUS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def stress(seconds: int) -> bool:
    """Busy every vCPU for 1-600 seconds; False when a run is on already (runs never stack)."""
    with _lock:
        if stress_status()["running"]:
            return False
        _stress["until"] = until = time.time() + clamp(seconds)
        # spawn, not fork: the server has threads, and a forked child may inherit a held lock.
        spawn = multiprocessing.get_context("spawn")
        _stress["procs"] = [spawn.Process(target=_burn, args=(until,), daemon=True)
                            for _ in range(vcpus())]
        for proc in _stress["procs"]:
            proc.start()
        return True
