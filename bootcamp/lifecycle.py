"""A lab's life: start, solve and clean change the account; verify proves the lab end to end."""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from bootcamp import checks, grading
from bootcamp.errors import BootcampError
from bootcamp.labmodel import Lab
from bootcamp.provision import Context
from bootcamp.results import PASS, GradeResult
from bootcamp.sandbox import control
from bootcamp.settings import Settings
from bootcamp.state import one_at_a_time
from bootcamp.targets import Target, make_target

ACTIONS = ("start", "solve", "clean")


def prepare(settings: Settings, lab: Lab, log: Callable[[str], None] = print, changes: bool = True) -> Target:
    """The target, made ready for this lab: the sandbox is started when it is down."""
    if changes:  # a start or clean keeps state (passwords, keys) in the home: refuse before making anything
        checks.home(settings.home)
    target = make_target(settings)
    if target.name == "embedded" and changes:
        before = control.status(settings)
        if before.state == "died":
            log(f"note: {before.line()}")
        if before.state != "running":
            log(control.up(settings).line())
    target.check_ready(list(lab.services), list(lab.needs))
    return target


def provision(action: str, lab: Lab, target: Target, settings: Settings,
              log: Callable[[str], None] = print) -> Context:
    if action not in ACTIONS:
        raise BootcampError(f"unknown action '{action}': use one of {', '.join(ACTIONS)}")
    if action in ("start", "solve"):
        target.confirm_changes(f"lab {lab.id} ({lab.title()})")
    ctx = Context(lab=lab, target=target, owner=settings.owner, home=settings.home, log=log)
    with one_at_a_time(settings.home, target.name, target.account_id, f"`invoke lab.{action} {lab.id}`"):
        getattr(lab.provision, action)(ctx)
    return ctx


def running(lab: Lab, ctx: Context):
    """What a learner keeps running beside the account while grading (lab 3's app), if anything."""
    beside = getattr(lab.provision, "running", None)
    return beside(ctx) if beside else nullcontext()


def own_account(settings: Settings, log: Callable[[str], None]) -> Settings:
    """verify's settings: a fresh account on the sandbox, and on an emulator where a 12-digit access
    key id is an account of its own (asked, not assumed); said in one line where it is not."""
    fresh = f"9{random.randrange(10**10, 10**11):011d}"
    if settings.target == "embedded":
        return settings.but(sandbox_account=fresh)
    if settings.target != "localstack":
        return settings
    trial = settings.but(emulator_account=fresh)
    target = make_target(trial)
    label = target.emulator.label  # one line when nothing answers, before any call is retried
    if target.account_id == fresh:
        return trial
    log(f"note: {label} keeps one account ({target.account_id}) whatever the access key id: "
        "verify runs there, beside whatever else is in it")
    return settings


@dataclass
class Verification:
    lab: str
    target: str
    account: str
    problems: list[str] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    grades: list[GradeResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(lab: Lab, settings: Settings, log: Callable[[str], None] = print) -> Verification:
    """start -> grade (nothing passes) -> solve -> grade (all pass) -> clean (nothing left).

    On the sandbox, and on an emulator that keeps accounts apart, it runs in a fresh account of its
    own, so a learner's work is untouched.
    """
    settings = own_account(settings, log)
    target = prepare(settings, lab, log)
    ctx = Context(lab=lab, target=target, owner=settings.owner, home=settings.home, log=log)
    existing = lab.provision.leftovers(ctx)
    if existing:
        raise BootcampError(
            f"lab {lab.id} already has resources in account {target.account_id} "
            f"({', '.join(existing[:3])}): run `invoke lab.clean {lab.id}` first, or verify elsewhere")
    result = Verification(lab.id, target.name, target.account_id)

    def phase(name: str) -> None:
        result.phases.append(name)
        log(f"verify: {name}")

    phase("start")
    provision("start", lab, target, settings, log)

    def graded(name: str, wrong: Callable) -> None:
        phase(name)
        grade, _ = grading.grade(lab, target, settings.home, settings.lang)
        result.grades.append(grade)
        result.problems += [problem for step in grade.steps if (problem := wrong(step))]

    with running(lab, ctx):
        graded("grade before solving", lambda step: (
            f"step {step.id} passes before the learner did anything" if step.status == PASS else
            None if step.hint else f"step {step.id} fails without a hint ({step.status}: {step.message})"))
        phase("solve")
        provision("solve", lab, target, settings, log)
        graded("grade after solving", lambda step: (
            None if step.status == PASS else f"step {step.id} is {step.status} after solve: {step.message}"))
    phase("clean")
    provision("clean", lab, target, settings, log)
    left = lab.provision.leftovers(ctx)
    if left:
        result.problems.append(f"clean left {', '.join(left)}")
    return result
