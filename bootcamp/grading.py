"""A grade: collect once, then judge every step with the lab's graders (pytest tests, run in-process)."""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import threading

from bootcamp.collect import collect
from bootcamp.inventory import Inventory
from bootcamp.labmodel import Lab
from bootcamp.results import GradeResult, StepResult, now, result_of  # noqa: F401 (also the library's words)
from bootcamp.targets import Target


def preload(module: str) -> None:
    """Import module on a thread: the graders (and pytest) load while the collection waits on the network."""
    if module not in sys.modules:
        threading.Thread(target=_import_quietly, args=(module,), name=f"import {module}", daemon=True).start()


def _import_quietly(module: str) -> None:
    """A head start only: whatever fails here (CPython 3.11's ast.parse, which pytest's assertion
    rewriting calls, is not safe on two threads at once) is met again by the grade's own import."""
    try:
        importlib.import_module(module)
    except BaseException:  # noqa: BLE001 (reported where it matters: the import the grade needs)
        pass


def grade(lab: Lab, target: Target, home, lang: str = "en") -> tuple[GradeResult, Inventory]:
    preload(lab.grader_module)
    target.check_ready(list(lab.services), list(lab.needs))
    started = now()
    inventory = collect(lab, target, home)
    return regrade(lab, inventory, lang, started), inventory


def regrade(lab: Lab, inventory: Inventory, lang: str = "en", started: str | None = None) -> GradeResult:
    """Judge an inventory (just collected, or saved earlier and judged again offline)."""
    started = started or now()
    [steps] = judge(lab, {inventory.meta.get("account", ""): inventory}, lang).values()
    return result_of(lab, inventory, steps, started, lang)


def judge(lab: Lab, inventories: dict[str, Inventory], lang: str = "en",
          session: bool = False) -> dict[str, list[StepResult]]:
    """Run the lab's graders once over every subject's inventory; results per subject, in step order.

    The graders run through graders.runner (no pytest session to set up); a grader that needs more of
    pytest than that runner offers, or session=True, runs them in a pytest session instead.
    """
    from graders import runner
    from graders.plugin import Judgement

    judgement = Judgement(lab, inventories, lang)
    planned = None if session else runner.load(lab)
    if planned is None:
        _session(lab, judgement)
    else:
        runner.run(judgement, *planned)
    return judgement.results()


def _session(lab: Lab, judgement) -> None:
    import pytest

    # Only the graders' own plugin: loading every installed one (xdist, ...) costs more than the judging,
    # and unraisableexception runs gc.collect() twice over a heap full of botocore models.
    args = [str(lab.grader_file), "--disable-plugin-autoload", "-p", "graders.plugin",
            "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:unraisableexception",
            "-o", "addopts=", "--rootdir", str(lab.grader_file.parent)]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = pytest.main(args, plugins=[judgement])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise RuntimeError(f"the lab {lab.id} graders did not run (pytest exit {code}): {out.getvalue()[-500:]}")
