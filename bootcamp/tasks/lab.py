"""`invoke lab.*`: list, start, grade, solve, clean and verify a lab."""

import gc
import json as jsonlib
import sys
import webbrowser
from pathlib import Path

from invoke import Exit, task

from bootcamp import checks
from bootcamp.errors import BootcampError
from bootcamp.labmodel import all_labs, get_lab
from bootcamp.tasks import TARGET_HELP, friendly, settings

LAB = {"lab": "lab number: 1 to 5 (see `invoke lab.list`)"}


def _setup(c, lab, target, region, port, profile, lang=None, yes=False, endpoint_url=None):
    s = settings(c, target=target, region=region, sandbox_port=port, profile=profile, lang=lang,
                 assume_yes=yes or None, endpoint_url=endpoint_url)
    return s, get_lab(lab)


@task(name="list", help={"lang": TARGET_HELP["lang"]})
@friendly
def list_(c, lang=None):
    """The labs, their steps and points, and which targets can run them."""
    from rich.console import Console
    from rich.table import Table

    s = settings(c, lang=lang)
    grid = Table(title="AWS Bootcamp Labs", title_justify="left", show_lines=True)
    for column in ("Lab", "Title", "Steps", "Targets"):
        grid.add_column(column)
    for lab in all_labs().values():
        steps = "\n".join(f"{st.id} {st.title(s.lang)} ({st.points})" for st in lab.steps)
        targets = "\n".join(f"{name}: {why or 'yes'}"
                            for name, why in lab.targets().items())
        grid.add_row(lab.id, lab.title(s.lang), f"{steps}\nmax {lab.max_points} points", targets)
    Console().print(grid)


@task(help={**LAB, **{k: TARGET_HELP[k] for k in ("target", "region", "port", "profile", "yes", "endpoint_url")}})
@friendly
def start(c, lab, target=None, region=None, port=None, profile=None, yes=False, endpoint_url=None):
    """Build what the course pre-provisions (starts the sandbox when it is down)."""
    lab_, target_ = _provision(c, "start", lab, target, region, port, profile, yes, endpoint_url)
    print(f"Do the steps, then run `invoke lab.grade {lab_.id}`.")
    if target_.name == "embedded":
        print('Point the AWS CLI at the sandbox with: eval "$(invoke sandbox.env)"')


@task(help={**LAB, **{k: TARGET_HELP[k] for k in ("target", "region", "port", "profile", "lang", "endpoint_url")},
            "json": "also write the grade as JSON to this path",
            "junit": "also write the grade as JUnit XML to this path",
            "snapshot": "also save what was read (the evidence judged) as JSON to this path",
            "from_snapshot": "judge a saved snapshot instead of reading the account"})
@friendly
def grade(c, lab, target=None, region=None, port=None, profile=None, lang=None,
          json=None, junit=None, snapshot=None, from_snapshot=None, endpoint_url=None):
    """Grade every step: a table with hints; exit 0 only when every step passes."""
    from bootcamp import warm

    home = _home(c)
    if home is not None and (status := warm.hand_over(home)) is not None:
        raise Exit(code=status)  # a warm grader ran this very command (see bootcamp/warm.py)
    try:
        _grade_here(c, lab, target, region, port, profile, lang, json, junit, snapshot, from_snapshot, endpoint_url)
    except Exit:  # a step failed: a grade all the same
        warm.graded(home)
        raise
    warm.graded(home)  # for the next grade (not after bad input: that is refused, and nothing is started)


def _home(c) -> Path | None:
    """Where the warm grader of these settings listens (None when the settings are bad: the grade says why)."""
    try:
        return settings(c).home
    except Exception:  # noqa: BLE001 (the grade itself says what is wrong, in one line)
        return None


def _grade_here(c, *options) -> None:
    # One short run whose heap is service models and answers, none of them in a cycle: the cyclic
    # collector would walk it again and again for nothing (about a sixth of a grade's CPU).
    gc.disable()
    try:
        _grade(c, *options)
    finally:
        gc.enable()


def _grade(c, lab, target, region, port, profile, lang, json, junit, snapshot, from_snapshot, endpoint_url):
    from bootcamp import grading, lifecycle
    from bootcamp.inventory import Inventory

    grading.preload("bootcamp.report")  # the table's rich loads while the collection waits on the network

    s, lab_ = _setup(c, lab, target, region, port, profile, lang, endpoint_url=endpoint_url)
    for path, option in ((json, "--json"), (junit, "--junit"), (snapshot, "--snapshot")):
        if path:
            checks.output_file(path, option)
    if from_snapshot:
        result = grading.regrade(lab_, Inventory.from_dict(checks.snapshot(from_snapshot, lab_.id)), s.lang)
    else:
        target_ = lifecycle.prepare(s, lab_, changes=False)
        result, inventory = grading.grade(lab_, target_, s.home, s.lang)
        if snapshot:
            Path(snapshot).parent.mkdir(parents=True, exist_ok=True)
            Path(snapshot).write_text(jsonlib.dumps(inventory.to_dict(), indent=2) + "\n")
    from bootcamp import report

    report.table(result)
    if json:
        report.write_json(result, Path(json))
    if junit:
        report.write_junit([result], Path(junit))
    if not result.passed:
        raise Exit(code=1)


def _provision(c, action, lab, target, region, port, profile, yes=False, endpoint_url=None):
    from bootcamp import lifecycle

    s, lab_ = _setup(c, lab, target, region, port, profile, yes=yes, endpoint_url=endpoint_url)
    target_ = lifecycle.prepare(s, lab_)
    print(f"lab {lab_.id} {action} on {target_.describe()}")
    ctx = lifecycle.provision(action, lab_, target_, s)
    print(f"lab {lab_.id} {action}: done ({len(ctx.done)} changes)")
    return lab_, target_


@task(help={**LAB, **{k: TARGET_HELP[k] for k in ("target", "region", "port", "profile", "yes", "endpoint_url")}})
@friendly
def solve(c, lab, target=None, region=None, port=None, profile=None, yes=False, endpoint_url=None):
    """Do the learner's steps the right way (for instructors, demos and tests)."""
    _provision(c, "solve", lab, target, region, port, profile, yes, endpoint_url)


@task(help={**LAB, **{k: TARGET_HELP[k] for k in ("target", "region", "port", "profile", "endpoint_url")}})
@friendly
def clean(c, lab, target=None, region=None, port=None, profile=None, endpoint_url=None):
    """Delete what the lab made (found by its tags or exact names), and nothing else."""
    _provision(c, "clean", lab, target, region, port, profile, endpoint_url=endpoint_url)


@task(help={**LAB, **{k: TARGET_HELP[k] for k in ("target", "region", "port", "profile", "lang", "yes", "endpoint_url")}})
@friendly
def verify(c, lab, target=None, region=None, port=None, profile=None, lang=None, yes=False, endpoint_url=None):
    """Prove a lab end to end: start, grade (fails), solve, grade (passes), clean (nothing left)."""
    from bootcamp import lifecycle, report

    s, lab_ = _setup(c, lab, target, region, port, profile, lang, yes, endpoint_url)
    outcome = lifecycle.verify(lab_, s)
    for graded in outcome.grades:
        report.table(graded)
    if not outcome.ok:
        raise Exit("verify failed:\n  " + "\n  ".join(outcome.problems), code=1)
    print(f"lab {lab_.id} verified on {outcome.target} (account {outcome.account}): "
          "every step fails before solve with a hint, passes after, and clean leaves nothing")


@task(name="open", help={**LAB, **{k: TARGET_HELP[k] for k in ("target", "region", "port", "profile", "endpoint_url")},
                         "print": "only print the URL, do not open a browser"})
@friendly
def open_(c, lab, print_=False, target=None, region=None, port=None, profile=None, endpoint_url=None):
    """Print the URL of the app you built (lab 2 and 3: the instance; lab 4: the load balancer; lab 5: the
    distribution) and open it."""
    from bootcamp import lifecycle, webapp

    s, lab_ = _setup(c, lab, target, region, port, profile, endpoint_url=endpoint_url)
    target_ = lifecycle.prepare(s, lab_, changes=False)
    if lab_.id == "5":
        from labs.lab5 import load as lab5_load

        url = lab5_load.distribution_url(target_)
    else:
        url = webapp.lab_app_url(target_, lab_.id, s.app_port)
    print(url)
    if not print_:
        webbrowser.open(url)


@task(help={**LAB, **{k: TARGET_HELP[k] for k in ("target", "region", "port", "profile", "endpoint_url")},
            "lang": "language of the guide: en or ko (default {lang})",
            "format": "md (default) or html",
            "out": "write the guide to this file instead of printing it"})
@friendly
def guide(c, lab, lang=None, format="md", target=None, region=None, port=None, profile=None, out=None,
          endpoint_url=None):
    """Show a lab's step-by-step guide (AWS console and CLI), filled in with your account's values."""
    from bootcamp import guide as guides
    from bootcamp.guide_values import learner_values

    s, lab_ = _setup(c, lab, target, region, port, profile, lang, endpoint_url=endpoint_url)
    guides.check_format(format)  # before the target is asked for the learner's values
    if out:
        checks.output_file(out, "--out")
    values, unknown = learner_values(s, lab_)
    if unknown:
        print(f"note: the guide shows placeholders such as <account-id>: {unknown}", file=sys.stderr)
    text = guides.render_guide(lab_, s.lang, format, values)
    if not out:
        print(text, end="")
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BootcampError(f"cannot write the guide to {out}: {exc.strerror}") from None
    print(f"lab {lab_.id} guide ({s.lang}, {format}) written to {out}")


@task(help={**LAB, **{k: TARGET_HELP[k] for k in ("target", "region", "port", "profile", "endpoint_url")},
            "requests": "how many downloads each burst sends (default 20, at most 500)"})
@friendly
def load(c, lab, requests=None, target=None, region=None, port=None, profile=None, endpoint_url=None):
    """Lab 5: the same burst of update downloads through CloudFront and straight to the load balancer, side by side."""
    from bootcamp import lifecycle
    from labs.lab5 import load as lab5_load

    s, lab_ = _setup(c, lab, target, region, port, profile, endpoint_url=endpoint_url)
    if lab_.id != "5":
        raise BootcampError(f"lab.load measures lab 5 (CloudFront in front of the load balancer), not lab {lab_.id}: "
                            "run `invoke lab.load 5`")
    count = lab5_load.check_requests(20 if requests is None else requests)
    target_ = lifecycle.prepare(s, lab_, changes=False)
    print(f"{count} downloads of {lab5_load.UPDATE_FILE} each way, on {target_.describe()}")
    print(lab5_load.table(lab5_load.run(s, target_, count)))
