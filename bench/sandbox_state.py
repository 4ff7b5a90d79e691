"""What the sandbox's lasting state costs: API calls per second with durability off, async and sync,
the time to restore N solved accounts, bytes on disk, and the sandbox's memory (RSS and PSS) per account
only read and per solved account.

    python bench/sandbox_state.py [--lab 2] [--rounds 2] [--accounts 100] [--restore-lab 4] [--parts restore]

Starts its own sandboxes on free ports (own BOOTCAMP_HOME each). The workload is a lab as a
learner runs it (start, solve, grade) in a fresh account; calls are counted by the sandbox.
Modes run in turns, `--rounds` times, so a busy machine weighs on each alike; the ratio is
against "off" in the same run (goal: async at least 0.8x). Restore: one account solves
`--restore-lab`, its files are copied into N accounts (ids and bucket names rewritten, as
`sandbox.load --account` does), and the time of `sandbox.up` is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bootcamp import grading, lifecycle  # noqa: E402
from bootcamp.labmodel import get_lab  # noqa: E402
from bootcamp.sandbox import control, store  # noqa: E402
from bootcamp.settings import Settings  # noqa: E402
from bootcamp.targets import make_target  # noqa: E402

MODES = ("off", "async", "sync")


@contextmanager
def environment(**env):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def sandbox(mode: str) -> Settings:
    settings = Settings.from_env(env={}, home=Path(tempfile.mkdtemp(prefix=f"bench-state-{mode}-")),
                                 sandbox_port=control.free_port(), owner="bench")
    state = "off" if mode == "off" else "on"
    with environment(BOOTCAMP_SANDBOX_STATE=state, BOOTCAMP_SANDBOX_DURABILITY=mode if state == "on" else "async"):
        control.up(settings)
    return settings


def calls(settings: Settings) -> int:
    return sum(r["requests"] for r in control.stats(settings)["by_account_service"]
               if r["account"] == settings.sandbox_account)


def workload(lab, settings: Settings) -> tuple[int, float]:
    """A learner's lab in a fresh account: (API calls, seconds)."""
    target = make_target(settings)
    began = time.perf_counter()
    for action in ("start", "solve"):
        ctx = lifecycle.provision(action, lab, target, settings, log=lambda _: None)
    with lifecycle.running(lab, ctx):
        grading.grade(lab, target, settings.home, "en")
    return calls(settings), time.perf_counter() - began


def throughput(lab_id: str, rounds: int) -> dict[str, float]:
    lab = get_lab(lab_id)
    sandboxes = {mode: sandbox(mode) for mode in MODES}
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    try:
        for n in range(rounds):
            for mode, base in sandboxes.items():
                made, seconds = workload(lab, base.but(sandbox_account=f"5150{MODES.index(mode)}{n:07d}"))
                rates[mode].append(made / seconds)
        for mode in ("async", "sync"):
            print(f"  {mode}: {control.state_line(control.state_status(sandboxes[mode]))}; "
                  f"slowest write to disk {control.state_status(sandboxes[mode])['lag_max_seconds']:.3f} s")
    finally:
        for base in sandboxes.values():
            control.down(base)
    return {mode: statistics.median(r) for mode, r in rates.items()}


def account_files(settings: Settings) -> dict[str, bytes]:
    folder = control.state_folder(settings) / "accounts" / settings.sandbox_account
    return {p.name: p.read_bytes() for p in folder.glob("*.state")}


def restore(lab_id: str, accounts: int) -> None:
    base = sandbox("async")
    one = base.but(sandbox_account="616161616161")
    try:
        lab = get_lab(lab_id)
        workload(lab, one)
        buckets = [b["Name"] for b in make_target(one).client("s3").list_buckets()["Buckets"]]
        control.flush(one)
        files = account_files(one)
    finally:
        control.down(base)
    units = ", ".join(f"{n.removesuffix('.state')} {len(d) / 1e3:.0f} kB" for n, d in sorted(files.items()))
    print(f"  bytes on disk for one solved lab {lab_id} account: {sum(map(len, files.values())) / 1e3:.0f} kB ({units})")
    folder = control.state_folder(base) / "accounts"
    for i in range(accounts):
        account = f"6262{i:08d}"
        for name, data in files.items():
            out = []
            for head, payload in store.decode(data, name):
                payload = payload.replace(one.sandbox_account.encode(), account.encode())
                for bucket in buckets:  # bucket names are one namespace: a same-length name of its own
                    payload = payload.replace(bucket.encode(), (bucket[:-4] + f"{i:04d}").encode())
                out.append(store.encode({**head, "account": account}, payload))
            store.write_atomically(folder / account / name, b"".join(out))
    began = time.perf_counter()
    control.up(base)
    seconds = time.perf_counter() - began
    try:
        status = control.state_status(base)
        print(f"  restore of {len(status['accounts'])} solved lab {lab_id} accounts "
              f"({status['bytes'] / 1e6:.1f} MB): sandbox.up took {seconds:.1f} s")
    finally:
        control.down(base)
    empty = sandbox("async")
    began = time.perf_counter()
    control.down(empty)
    control.up(empty)
    print(f"  the same sandbox.up with no state: {time.perf_counter() - began:.1f} s (down and up)")
    control.down(empty)


def memory_mb(settings: Settings) -> tuple[float, float]:
    """(RSS, PSS) of the sandbox process, in MB (PSS counts pages shared with other processes in part)."""
    pid = control.status(settings).pid
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    return tuple(int(fields[k].split()[0]) / 1e3 for k in ("Rss", "Pss"))


def memory(lab_id: str, accounts: int) -> None:
    """Sandbox memory per account only read (graded, never started) and per account that solved the lab."""
    base = sandbox("async")
    lab = get_lab(lab_id)
    try:
        warm = base.but(sandbox_account="717171717100")  # the process's one-time costs: shared sets, models
        grading.grade(lab, make_target(warm), warm.home, "en")
        workload(lab, base.but(sandbox_account="727272727200"))
        before = memory_mb(base)
        for i in range(accounts):
            s = base.but(sandbox_account=f"7171717{i + 1:05d}")
            grading.grade(lab, make_target(s), s.home, "en")
        read = memory_mb(base)
        for i in range(accounts):
            workload(lab, base.but(sandbox_account=f"7272727{i + 1:05d}"))
        solved = memory_mb(base)
    finally:
        control.down(base)
    for name, at in (("RSS", 0), ("PSS", 1)):
        print(f"  sandbox {name}: {(read[at] - before[at]) / accounts:.2f} MB per account only read (goal 1), "
              f"{(solved[at] - read[at]) / accounts:.2f} MB per solved lab {lab_id} account (goal 3); "
              f"{accounts} of each, from {before[at]:.0f} MB to {read[at]:.0f} MB to {solved[at]:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="2", help="the lab whose calls are the workload")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=100, help="accounts to restore")
    parser.add_argument("--restore-lab", default="4")
    parser.add_argument("--memory-accounts", type=int, default=20, help="accounts only read, and solved, for memory")
    parser.add_argument("--parts", default="throughput,restore,memory", help="which measures, comma-separated")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if "throughput" in parts:
        print(f"lab {args.lab} workload, API calls per second (median of {args.rounds}):")
        rates = throughput(args.lab, args.rounds)
        for mode in MODES:
            print(f"  {mode:5}: {rates[mode]:6.1f} calls/s  ({rates[mode] / rates['off']:.2f}x of off)")
    if "restore" in parts:
        print(f"restore (lab {args.restore_lab}):")
        restore(args.restore_lab, args.accounts)
    if "memory" in parts:
        print(f"memory (lab {args.lab}):")
        memory(args.lab, args.memory_accounts)


if __name__ == "__main__":
    main()
