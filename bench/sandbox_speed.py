"""Calls per second one reused boto3 client gets from the sandbox, beside a plain moto server.

    python bench/sandbox_speed.py [--seconds 2] [--rounds 5] [--learners 20]

Starts, on free ports, in one run: a plain moto server (`python -m moto.server`, moto's
threaded werkzeug server), the sandbox as it served before its speed-ups
(`--no-speedups`) and the sandbox as `invoke sandbox.up` starts it. Then, in rounds that
take the servers in turn (so a busy machine slows all of them alike), one client per
service calls each loop for --seconds against each server. Prints the median calls/s of
every server and loop and the medians of the per-round ratios.

With --learners N, also a class grade's pattern: N new accounts, one shared client per
service switching credentials per learner, each learner's first reads (the accounts'
backends are made on the way), timed once per sandbox.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import EndpointConnectionError  # noqa: E402

from bootcamp.sandbox.control import free_port  # noqa: E402

ACCOUNT = "424242424242"  # a sandbox account root; plain moto takes any key as its default account
SERVERS = {  # name: the command after the interpreter
    "moto": ["-m", "moto.server", "-H", "127.0.0.1", "-p"],
    "sandbox before": ["-m", "bootcamp.sandbox.server", "--no-speedups", "--port"],
    "sandbox": ["-m", "bootcamp.sandbox.server", "--port"],
}
LOOPS = {"describe_vpcs": ("ec2", "describe_vpcs"), "list_buckets": ("s3", "list_buckets")}
START_SECONDS = 60


def client(port: int, service: str, key: str = ACCOUNT):
    return boto3.session.Session().client(
        service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key="bench", config=Config(retries={"max_attempts": 1}))


def start(command: list[str], port: int, log: Path) -> subprocess.Popen:
    """A server process, once it answers an EC2 call."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, *command, str(port)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=ROOT)
    ec2 = client(port, "ec2")
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{' '.join(command)} stopped at start: see {log}")
        try:
            ec2.describe_vpcs()
            return proc
        except EndpointConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{' '.join(command)} did not answer within {START_SECONDS} s: see {log}")


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (user and system; Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(call, seconds: float, pid: int | None = None) -> tuple[float, float, float]:
    """Calls per second of one call repeated for about this long; the server's and the client's CPU ms per call."""
    done, began, cpu, mine = 0, time.perf_counter(), cpu_seconds(pid) if pid else 0.0, time.process_time()
    while (spent := time.perf_counter() - began) < seconds:
        call()
        done += 1
    used = cpu_seconds(pid) - cpu if pid else 0.0
    return done / spent, 1000 * used / done, 1000 * (time.process_time() - mine) / done


def first_reads(port: int, learners: int, offset: int) -> float:
    """Seconds for N new learners' first reads through shared clients, switching credentials."""
    services = ("ec2", "s3", "iam", "sts")
    shared = {s: client(port, s) for s in services}
    began = time.perf_counter()
    for n in range(learners):
        key = f"5{offset:05d}{n:06d}"
        for c in shared.values():  # as bootcamp.classroom.access switches a shared client
            c._request_signer._credentials = Credentials(key, "bench")
        shared["sts"].get_caller_identity()
        shared["ec2"].describe_vpcs()
        shared["ec2"].describe_instances()
        shared["s3"].list_buckets()
        shared["iam"].list_users()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one loop against one server")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every server and loop")
    parser.add_argument("--learners", type=int, default=0, help="also time N new learners' first reads")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-sandbox-speed-"))
    procs: dict[str, subprocess.Popen] = {}
    try:
        ports = {}
        for n, (name, command) in enumerate(SERVERS.items()):
            ports[name] = free_port()
            procs[name] = start(command, ports[name], logs / f"server{n}.log")
        calls = {(name, loop): getattr(client(ports[name], service), op)
                 for name in SERVERS for loop, (service, op) in LOOPS.items()}
        for call in calls.values():  # every backend made, every connection open
            rate(call, 0.3)
        rates: dict[tuple[str, str], list[float]] = {k: [] for k in calls}
        cpu: dict[tuple[str, str], list[float]] = {k: [] for k in calls}
        client_cpu: dict[tuple[str, str], list[float]] = {k: [] for k in calls}
        for _ in range(args.rounds):
            for loop in LOOPS:
                for name in SERVERS:
                    per_second, server_ms, client_ms = rate(calls[(name, loop)], args.seconds, procs[name].pid)
                    rates[(name, loop)].append(per_second)
                    cpu[(name, loop)].append(server_ms)
                    client_cpu[(name, loop)].append(client_ms)
        report(rates, cpu, client_cpu, args)
        if args.learners:
            class_pattern(ports, args.learners)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def report(rates, cpu, client_cpu, args) -> None:
    """The table: calls/s and ratios, then CPU ms per call of each server and of the client."""
    print(f"calls/s, one reused boto3 client, median of {args.rounds} rounds of {args.seconds:g} s"
          " (servers taken in turn in each round)")
    print(f"{'loop':<15}" + "".join(f"{name:>16}" for name in SERVERS)
          + f"{'sandbox/before':>16}{'sandbox/moto':>14}{'before/moto':>13}")
    for loop in LOOPS:
        row = {name: rates[(name, loop)] for name in SERVERS}

        def ratio(a: str, b: str) -> float:  # median of the per-round ratios
            return statistics.median(x / y for x, y in zip(row[a], row[b]))

        print(f"{loop:<15}" + "".join(f"{statistics.median(row[name]):>16.1f}" for name in SERVERS)
              + f"{ratio('sandbox', 'sandbox before'):>15.2f}x{ratio('sandbox', 'moto'):>13.2f}x"
              f"{ratio('sandbox before', 'moto'):>12.2f}x")
    for title, table in (("server", cpu), ("client (boto3)", client_cpu)):
        print(f"{title} CPU ms per call (median)")
        for loop in LOOPS:
            print(f"{loop:<15}" + "".join(f"{statistics.median(table[(name, loop)]):>16.2f}" for name in SERVERS))
    print("CPU per call, sandbox before / sandbox (steadier than calls/s on a busy machine)")
    for loop in LOOPS:
        def med(table, name):
            return statistics.median(table[(name, loop)])
        server = med(cpu, "sandbox before") / med(cpu, "sandbox")
        total = ((med(cpu, "sandbox before") + med(client_cpu, "sandbox before"))
                 / (med(cpu, "sandbox") + med(client_cpu, "sandbox")))
        print(f"{loop:<15}server {server:.2f}x, server and client together {total:.2f}x")


def class_pattern(ports: dict[str, int], learners: int) -> None:
    print(f"\n{learners} new learners' first reads (5 calls each, shared clients), seconds:")
    times = {name: first_reads(ports[name], learners, n) for n, name in enumerate(SERVERS) if name != "moto"}
    for name, spent in times.items():
        print(f"{name:<16}{spent:>8.2f} s  {5 * learners / spent:>7.1f} calls/s")
    print(f"{'sandbox/before':<16}{times['sandbox before'] / times['sandbox']:>8.2f}x faster")


if __name__ == "__main__":
    main()
