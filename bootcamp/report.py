"""Grades shown to a person (a table) and written for machines (JSON, JUnit XML)."""

from __future__ import annotations

import json
import tomllib
from functools import cache
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bootcamp.errors import BootcampError
from bootcamp.labmodel import get_lab
from bootcamp.results import ERROR, FAIL, PASS, GradeResult

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STYLE = {PASS: "bold green", FAIL: "bold red", ERROR: "bold yellow"}


def table(result: GradeResult, console: Console | None = None, lang: str | None = None) -> None:
    """The grade as a table in its own language; long hints and commands wrap, never cut."""
    console = console or Console()
    words = labels(lang or language_of(result))
    grid = Table(title=f"Lab {result.lab}: {result.title}", title_justify="left", show_lines=True)
    grid.add_column(words["step"], no_wrap=True)
    grid.add_column(words["title"], overflow="fold")
    grid.add_column(words["result"], no_wrap=True)
    grid.add_column(words["points"], justify="right", no_wrap=True)
    grid.add_column(words["what_to_do"], overflow="fold")
    for step in result.steps:
        detail = Text(step.message)
        for line in step.notes:
            detail.append(("\n" if detail.plain else "") + line, style="yellow" if step.status == PASS else "")
        if step.hint:
            detail.append(f"\n{words['hint']} {step.hint}", style="cyan")
        grid.add_row(step.id, step.title, Text(step.status, style=STYLE[step.status]),
                     f"{step.points}/{step.max_points}", detail)
    console.print(grid)
    verdict = words["passed"] if result.passed else words["not_finished"]
    console.print(words["score"].format(score=result.score, max_score=result.max_score, verdict=verdict,
                                        target=result.target, account=result.account, region=result.region),
                  highlight=False)


@cache
def labels(lang: str) -> dict[str, str]:
    data = tomllib.loads((TEMPLATES / "report.toml").read_text(encoding="utf-8"))
    return data.get(lang) or data["en"]


def language_of(result: GradeResult) -> str:
    """The language a grade was judged in: the one its lab title is written in."""
    try:
        lab = get_lab(result.lab)
    except BootcampError:
        return "en"
    return next((lang for lang in lab.title.by_lang if lab.title(lang) == result.title), "en")


def write_json(result: GradeResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def junit(results: list[GradeResult], names: list[str] | None = None) -> str:
    """One testsuite per grade (named by `names`, e.g. learner ids, else lab and account), one testcase per step."""
    from bootcamp.render import render  # Jinja2, only when a file is asked for

    steps = [s for r in results for s in r.steps]
    names = names or [f"lab{r.lab}.{r.account}" for r in results]
    return render("junit.xml", suites=list(zip(names, results)), total_tests=len(steps),
                  total_failures=sum(s.status == FAIL for s in steps),
                  total_errors=sum(s.status == ERROR for s in steps))


def write_junit(results: list[GradeResult], path: Path, names: list[str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit(results, names), encoding="utf-8")
