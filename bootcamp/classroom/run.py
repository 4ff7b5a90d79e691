"""Grade a class: collect every learner's account (bounded workers, shared clients), then judge
them all in one run of the lab's graders."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import botocore.exceptions as bx

from bootcamp import grading
from bootcamp.classroom.access import Access, Unreachable
from bootcamp.classroom.roster import Learner, Roster, RosterProblem
from bootcamp.collect import Reader
from bootcamp.errors import BootcampError, explain
from bootcamp.inventory import Inventory
from bootcamp.labmodel import Lab
from bootcamp.results import ERROR, PASS, GradeResult, StepResult
from bootcamp.targets import Target


@dataclass
class LearnerGrade:
    learner: Learner
    result: GradeResult
    inventory: Inventory | None = None
    error: str = ""  # why the account could not be graded at all

    @property
    def status(self) -> str:
        return self.result.overall(self.error)


@dataclass
class ClassGrade:
    lab: Lab
    target: str
    lang: str
    grades: list[LearnerGrade] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)
    shard: tuple[int, int] = (1, 1)
    roster: str = ""  # the roster's digest (Roster.digest)
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went: collect, judge

    @property
    def exit_code(self) -> int:
        """0 every learner passes, 1 some step fails, 2 some learner or roster row could not be graded."""
        if self.problems or any(g.status == ERROR for g in self.grades):
            return 2
        return 0 if all(g.status == PASS for g in self.grades) else 1


def grade_class(lab: Lab, roster: Roster, base: Target, lang: str = "en", workers: int = 4,
                progress: Callable[[Learner], None] | None = None) -> ClassGrade:
    base.check_endpoint()
    if base.name != "aws" or any(x.role_arn for x in roster.learners):
        base.check_ready(list(lab.services))  # on aws, the instructor's own credentials assume the roles
    access = Access(base)
    started = grading.now()

    def collect(learner: Learner) -> tuple[Inventory | None, str]:
        try:
            target = access.reach(learner)
            token = target.activate()
            try:
                inventory = lab.collect.collect(Reader(target, {}))
                inventory.meta.update(lab=lab.id, target=target.name, account=target.account_id,
                                      region=target.region, learner=learner.id)
                return inventory, ""
            finally:
                target.deactivate(token)
        except Unreachable as exc:
            return None, f"unreachable: {exc}"
        except (bx.BotoCoreError, bx.ClientError) as exc:
            return None, explain(exc, base.name) or f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        except BootcampError as exc:
            return None, str(exc)
        except Exception as exc:  # a collector's bug must not cost the rest of the class its grades
            return None, f"collector error: {type(exc).__name__}: {exc}"
        finally:
            if progress:
                progress(learner)

    clock = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="learner") as pool:
        collected = list(pool.map(collect, roster.learners))
    collected_at = time.perf_counter()
    inventories = {x.id: inv for x, (inv, _) in zip(roster.learners, collected) if inv is not None}
    judged = grading.judge(lab, inventories, lang) if inventories else {}
    graded = ClassGrade(lab, base.name, lang, problems=list(roster.problems),
                        seconds={"collect": collected_at - clock, "judge": time.perf_counter() - collected_at})
    for learner, (inventory, error) in zip(roster.learners, collected):
        if inventory is not None:
            result = grading.result_of(lab, inventory, judged[learner.id], started, lang)
        else:
            result = unreachable_result(lab, learner, base, error, started, lang)
        graded.grades.append(LearnerGrade(learner, result, inventory, error))
    return graded


def unreachable_result(lab: Lab, learner: Learner, base: Target, error: str, started: str, lang: str) -> GradeResult:
    steps = [StepResult(id=s.id, title=s.title(lang), status=ERROR, points=0, max_points=s.points,
                        message=f"could not be judged: {error}") for s in lab.steps]
    return GradeResult(lab=lab.id, title=lab.title(lang), target=base.name, account=learner.account_hint,
                       region=learner.region or base.region, started=started, finished=grading.now(), steps=steps)
