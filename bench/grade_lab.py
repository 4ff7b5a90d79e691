"""Time `invoke lab.grade N` on the embedded sandbox and count the API calls one grade makes.

    python bench/grade_lab.py [--lab 2] [--runs 5]     # every lab when --lab is not given

Starts its own sandbox on a free port (its own BOOTCAMP_HOME), runs lab.start N in a fresh
account, then times the grade as a learner runs it (a new process each time) and in-process
(the library call, as class grading and tests use it). Each `invoke lab.grade` run is paired
with a run of `python -c "import boto3"` just before it (the same interpreter, alternating), and
the ratio of the medians is printed: the machine's load changes both alike, so the ratio is the
figure to compare across machines and runs (the target is at most 2.5 on a solved lab). Each
grade is timed as a learner meets it, a grade after a grade (run by the warm grader the first one
left, bootcamp/warm.py), and on its own (BOOTCAMP_WARM=off: a process that loads everything).
API calls are counted by the sandbox itself, per service, so nothing in the measured process is
instrumented.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bootcamp import grading, lifecycle, warm  # noqa: E402
from bootcamp.labmodel import all_labs, get_lab  # noqa: E402
from bootcamp.sandbox import control  # noqa: E402
from bootcamp.settings import Settings  # noqa: E402
from bootcamp.targets import make_target  # noqa: E402


def calls(settings: Settings) -> Counter:
    rows = control.stats(settings)["by_account_service"]
    return Counter({r["service"]: r["requests"] for r in rows if r["account"] == settings.sandbox_account})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="append", help="lab to measure (repeatable; default: every lab)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    base = Settings.from_env(env={}, home=home, sandbox_port=control.free_port())
    control.up(base)
    try:
        for n, lab_id in enumerate(args.lab or list(all_labs())):
            measure(get_lab(lab_id), base.but(sandbox_account=f"4242424242{n:02d}"), args.runs)
    finally:
        warm.stop(home)
        control.down(base)


def measure(lab, settings: Settings, runs: int) -> None:
    target = make_target(settings)
    ctx = lifecycle.provision("start", lab, target, settings, log=lambda _: None)
    with lifecycle.running(lab, ctx):  # lab 3's app, which its grade asks
        grade_twice(lab, settings, target, runs)


def grade_twice(lab, settings: Settings, target, runs: int) -> None:
    home = settings.home
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOOTCAMP_"))},
           "BOOTCAMP_HOME": str(home), "BOOTCAMP_SANDBOX_PORT": str(settings.sandbox_port),
           "BOOTCAMP_SANDBOX_ACCOUNT": settings.sandbox_account}
    for state in ("fresh start", "solved"):
        if state == "solved":
            lifecycle.provision("solve", lab, target, settings, log=lambda _: None)
        before = calls(settings)
        grading.grade(lab, make_target(settings), home)
        per_grade = calls(settings) - before
        warm.start(home)
        while not warm.socket_path(home).exists():  # the grader a learner's first grade leaves
            time.sleep(0.1)
        cli, alone, baseline, inproc = [], [], [], []
        for _ in range(runs):
            baseline.append(timed([sys.executable, "-c", "import boto3"], env))
            cli.append(timed([sys.executable, "-m", "invoke", "lab.grade", lab.id], env, (0, 1)))
            alone.append(timed([sys.executable, "-m", "invoke", "lab.grade", lab.id], {**env, "BOOTCAMP_WARM": "off"},
                               (0, 1)))
            t = time.perf_counter()
            grading.grade(lab, make_target(settings), home)
            inproc.append(time.perf_counter() - t)
        base = statistics.median(baseline)
        print(f"lab {lab.id}, {state}: `invoke lab.grade {lab.id}` median {statistics.median(cli):.2f} s "
              f"(min {min(cli):.2f}), on its own {statistics.median(alone):.2f} s, `python -c \"import boto3\"` "
              f"median {base:.2f} s, ratio {statistics.median(cli) / base:.1f} (on its own "
              f"{statistics.median(alone) / base:.1f}); in-process grade median {statistics.median(inproc):.3f} s "
              f"(min {min(inproc):.3f}); {sum(per_grade.values())} API calls per grade "
              f"({', '.join(f'{s} {n}' for s, n in sorted(per_grade.items()))}); {runs} runs")


def timed(command: list[str], env: dict, codes: tuple[int, ...] = (0,)) -> float:
    t = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True)
    elapsed = time.perf_counter() - t
    assert done.returncode in codes, done.stderr
    return elapsed


if __name__ == "__main__":
    main()
