"""The sandbox's data plane: latency through the edge against the app directly, app start, memory per app.

    python bench/dataplane.py [--requests 300] [--apps 4]

Starts its own sandbox on a free port (its own BOOTCAMP_HOME), solves lab 2 in a fresh account
and, in the same run: GETs /health from the app directly (its loopback port) and through the
edge (the instance's public DNS name on the sandbox's port), alternating, and reports the
medians, the added latency and requests per second of each; times run-instances to the first
answer through the edge; and launches --apps more instances to read each app's memory
(RSS, and PSS: its share of pages it has in common with the other apps).
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bootcamp import lifecycle, userdata  # noqa: E402
from bootcamp.labmodel import get_lab  # noqa: E402
from bootcamp.sandbox import control  # noqa: E402
from bootcamp.settings import Settings  # noqa: E402
from bootcamp.targets import make_target  # noqa: E402

WAIT = 60.0


def get(port: int, host: str, path: str = "/health") -> float:
    """Seconds one GET takes on a new connection (as a browser's first request)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host})
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {host}{path}: HTTP {answer.status}")
    finally:
        conn.close()
    return time.perf_counter() - start


def until_answers(port: int, host: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < WAIT:
        try:
            get(port, host)
            return time.monotonic() - start
        except (OSError, RuntimeError, http.client.HTTPException):
            time.sleep(0.05)
    raise RuntimeError(f"{host} did not answer within {WAIT:g} s")


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in kB."""
    found = {}
    for name in (f"/proc/{pid}/smaps_rollup",):
        for line in Path(name).read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Rss", "Pss"):
                found[key] = int(value.split()[0])
    return found.get("Rss", 0), found.get("Pss", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--apps", type=int, default=4, help="extra instances launched to measure memory per app")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    settings = Settings.from_env(env={}, home=home, sandbox_port=control.free_port(), sandbox_account="424242424299")
    control.up(settings)
    try:
        measure(settings, args.requests, args.apps)
    finally:
        control.down(settings)


def measure(settings: Settings, requests: int, apps: int) -> None:
    lab, target = get_lab("2"), make_target(settings)
    for action in ("start", "solve"):
        lifecycle.provision(action, lab, target, settings, log=lambda _: None)
    ec2 = target.client("ec2")
    instance = ec2.describe_instances()["Reservations"][0]["Instances"][0]
    host = f"{instance['PublicDnsName']}:{settings.sandbox_port}"
    until_answers(settings.sandbox_port, host)
    [app] = control.running_apps(settings, settings.sandbox_account)
    direct_host = f"127.0.0.1:{app['port']}"
    for _ in range(20):  # warm both paths
        get(app["port"], direct_host), get(settings.sandbox_port, host)
    direct, edge, front = [], [], []
    sandbox_host = f"127.0.0.1:{settings.sandbox_port}"
    for _ in range(requests):
        direct.append(get(app["port"], direct_host))
        edge.append(get(settings.sandbox_port, host))
        front.append(get(settings.sandbox_port, sandbox_host, "/_bootcamp/health"))
    d, e, f = statistics.median(direct), statistics.median(edge), statistics.median(front)
    print(f"GET /health, {requests} each, alternating, a new connection each:")
    print(f"  app directly:      median {d * 1000:.2f} ms, {1 / statistics.mean(direct):.0f} requests/s")
    print(f"  through the edge:  median {e * 1000:.2f} ms, {1 / statistics.mean(edge):.0f} requests/s")
    print(f"  added by the edge: {(e - d) * 1000:.2f} ms at the median ({e / d:.2f}x)")
    print(f"  (the sandbox's own /_bootcamp/health, its HTTP front alone: median {f * 1000:.2f} ms)")

    subnet = instance["SubnetId"]
    groups = sorted({g["GroupId"] for eni in instance["NetworkInterfaces"] for g in eni["Groups"]})
    starts = []
    for _ in range(apps):
        started = time.monotonic()
        made = ec2.run_instances(ImageId=instance["ImageId"], InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 UserData=userdata.render(target.region), NetworkInterfaces=[{
                                     "DeviceIndex": 0, "SubnetId": subnet, "Groups": groups,
                                     "AssociatePublicIpAddress": True}])["Instances"][0]
        until_answers(settings.sandbox_port, f"{made['PublicDnsName']}:{settings.sandbox_port}")
        starts.append(time.monotonic() - started)
    print(f"run-instances to the first answer through the edge: median {statistics.median(starts):.2f} s "
          f"(min {min(starts):.2f}, max {max(starts):.2f}, {apps} instances)")
    sizes = [memory(a["pid"]) for a in control.running_apps(settings, settings.sandbox_account) if a["pid"]]
    print(f"memory per app ({len(sizes)} apps): RSS median {statistics.median(s[0] for s in sizes) / 1024:.1f} MB, "
          f"PSS median {statistics.median(s[1] for s in sizes) / 1024:.1f} MB")


if __name__ == "__main__":
    main()
