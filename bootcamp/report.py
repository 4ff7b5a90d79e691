"""Grades shown to a person (a table) and written for machines (JSON, JUnit XML)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bootcamp.results import ERROR, FAIL, PASS, GradeResult

STYLE = {PASS: "bold green", FAIL: "bold red", ERROR: "bold yellow"}


def table(result: GradeResult, console: Console | None = None) -> None:
    console = console or Console()
    grid = Table(title=f"Lab {result.lab}: {result.title}", title_justify="left", show_lines=True)
    grid.add_column("Step", no_wrap=True)
    grid.add_column("Title")
    grid.add_column("Result", no_wrap=True)
    grid.add_column("Points", justify="right", no_wrap=True)
    grid.add_column("What to do")
    for step in result.steps:
        detail = Text(step.message)
        for line in step.notes:
            detail.append(("\n" if detail.plain else "") + line, style="yellow" if step.status == PASS else "")
        if step.hint:
            detail.append(f"\nHint: {step.hint}", style="cyan")
        grid.add_row(step.id, step.title, Text(step.status, style=STYLE[step.status]),
                     f"{step.points}/{step.max_points}", detail)
    console.print(grid)
    verdict = "all steps pass" if result.passed else "not finished yet"
    console.print(f"Score {result.score}/{result.max_score} ({verdict}) on {result.target}, "
                  f"account {result.account}, region {result.region}", highlight=False)


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
