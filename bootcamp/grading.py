"""A grade: collect once, then judge every step in one pytest run of the lab's graders."""

from __future__ import annotations

import contextlib
import io
from datetime import datetime, timezone

import pytest

from bootcamp.collect import collect
from bootcamp.inventory import Inventory
from bootcamp.labmodel import Lab
from bootcamp.results import GradeResult, StepResult
from bootcamp.targets import Target


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def grade(lab: Lab, target: Target, home, lang: str = "en") -> tuple[GradeResult, Inventory]:
    target.check_ready(list(lab.services))
    started = now()
    inventory = collect(lab, target, home)
    return regrade(lab, inventory, lang, started), inventory


def regrade(lab: Lab, inventory: Inventory, lang: str = "en", started: str | None = None) -> GradeResult:
    """Judge an inventory (just collected, or saved earlier and judged again offline)."""
    started = started or now()
    [steps] = judge(lab, {inventory.meta.get("account", ""): inventory}, lang).values()
    return result_of(lab, inventory, steps, started, lang)


def result_of(lab: Lab, inventory: Inventory, steps: list[StepResult], started: str, lang: str) -> GradeResult:
    meta = inventory.meta
    return GradeResult(lab=lab.id, title=lab.title(lang), target=meta.get("target", ""),
                       account=meta.get("account", ""), region=meta.get("region", ""),
                       started=started, finished=now(), steps=steps)


def judge(lab: Lab, inventories: dict[str, Inventory], lang: str = "en") -> dict[str, list[StepResult]]:
    """Run the lab's graders once over every subject's inventory; results per subject, in step order."""
    from graders.plugin import Judgement

    judgement = Judgement(lab, inventories, lang)
    # Only the graders' own plugin: loading every installed one (xdist, ...) costs more than the judging,
    # and unraisableexception runs gc.collect() twice over a heap full of botocore models.
    args = [str(lab.grader_file), "--disable-plugin-autoload", "-p", "graders.plugin",
            "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:unraisableexception",
            "-o", "addopts=", "--rootdir", str(lab.grader_file.parent)]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = pytest.main(args, plugins=[judgement])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise RuntimeError(f"the lab {lab.id} graders did not run (pytest exit {code}): {out.getvalue()[-500:]}")
    return judgement.results()
