"""The class's files: per-learner grade, evidence and Gradescope results; gradebook CSV, JUnit XML,
an HTML report and a Markdown summary. Written from plain records, so a merge of shards writes
exactly what one unsharded run writes."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bootcamp import report
from bootcamp.inventory import Inventory
from bootcamp.labmodel import Lab
from bootcamp.redact import redact, redact_text
from bootcamp.render import render
from bootcamp.results import ERROR, FAIL, PASS, GradeResult

SCHEMA = "aws-bootcamp-labs/class/v1"
NOT_STARTED = "not started"


@dataclass
class Record:
    """One learner's line in every class file."""

    id: str
    name: str
    line: int
    result: GradeResult
    error: str = ""

    def __post_init__(self):
        self.error = redact_text(self.error)

    @property
    def status(self) -> str:
        return self.result.overall(self.error)

    @property
    def shown_status(self) -> str:
        """The status the class report shows: "not started" is a FAIL with no step begun (no points, no ERROR)."""
        steps = self.result.steps
        if self.status == FAIL and steps and all(s.status == FAIL and s.points == 0 for s in steps):
            return NOT_STARTED
        return self.status

    @property
    def to_fix(self) -> list:
        """The steps that did not pass, with the reason (the report shows it, not only as a tooltip)."""
        return [s for s in self.result.steps if s.status != PASS]

    def summary(self) -> dict:
        return {"id": self.id, "name": self.name, "line": self.line, "account": self.result.account,
                "status": self.status, "score": self.result.score, "max_score": self.result.max_score,
                "error": self.error}


def counts(records: list[Record]) -> dict[str, int]:
    return {k: sum(r.status == k for r in records) for k in (PASS, FAIL, ERROR)}


def learner_dir(out: Path, learner_id: str) -> Path:
    return out / "learners" / learner_id


def write_learner(out: Path, record: Record, inventory: Inventory | None) -> None:
    folder = learner_dir(out, record.id)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {**record.result.to_dict(), "learner": {"id": record.id, "name": record.name}}
    if record.error:
        payload["error"] = record.error
    _json(folder / "grade.json", payload)
    if inventory is not None:
        _json(folder / "snapshot.json", inventory.to_dict())  # redacted
    _json(folder / "gradescope" / "results.json", gradescope(record))


def gradescope(record: Record) -> dict:
    """Gradescope's autograder results format: one test per step, scores in points."""
    result = record.result
    tests = [{"name": f"{s.id} {s.title}", "number": s.id, "score": s.points, "max_score": s.max_points,
              "status": "passed" if s.status == PASS else "failed", "output": _step_output(s),
              "visibility": "visible"} for s in result.steps]
    output = f"Lab {result.lab} on {result.target}, account {result.account or 'unknown'}: " \
             f"{result.score}/{result.max_score}"
    if record.error:
        output += f"\nThe account could not be graded: {record.error}"
    return {"score": result.score, "max_score": result.max_score, "output": output,
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def _step_output(step) -> str:
    lines = [step.status if step.status != PASS else "", step.message,
             f"Hint: {step.hint}" if step.hint else "", *step.notes]
    return "\n".join(line for line in lines if line)


def write_class(out: Path, lab: Lab, target: str, lang: str, records: list[Record], problems: list[dict],
                shard: str = "1/1", roster: str = "") -> None:
    """Every class-level file, from the records (one run, or merged shards)."""
    records = sorted(records, key=lambda r: r.line)
    problems = redact(sorted(problems, key=lambda p: p["line"]))
    out.mkdir(parents=True, exist_ok=True)
    _json(out / "class.json", {"schema": SCHEMA, "lab": lab.id, "title": lab.title(lang), "target": target,
                               "lang": lang, "shard": shard, "roster": roster,
                               "learners": [r.summary() for r in records],
                               "problems": problems})
    (out / "gradebook.csv").write_text(gradebook(lab, records), encoding="utf-8")
    report.write_junit([r.result for r in records], out / "junit.xml", names=[r.id for r in records])
    stats = step_stats(lab, records, lang)
    context = {"lab": lab, "title": lab.title(lang), "target": target, "records": records,
               "problems": problems, "stats": stats, "shard": shard, "lang": lang,
               "counts": counts(records), "not_started": sum(r.shown_status == NOT_STARTED for r in records),
               "graded": graded_at(records), "regions": sorted({r.result.region for r in records if r.result.region})}
    (out / "report.html").write_text(render("class-report.html", **context), encoding="utf-8")
    (out / "summary.md").write_text(render("class-summary.md", **context), encoding="utf-8")


def gradebook(lab: Lab, records: list[Record]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["learner_id", "name", "account", "status", *(s.id for s in lab.steps),
                     "score", "max_score", "error"])
    for r in records:
        points = {s.id: s.points for s in r.result.steps}
        writer.writerow([r.id, r.name, r.result.account, r.status, *(points.get(s.id, 0) for s in lab.steps),
                         r.result.score, r.result.max_score, r.error])
    return buffer.getvalue()


def step_stats(lab: Lab, records: list[Record], lang: str) -> list[dict]:
    """Per step: how many passed, failed, errored; the step the class struggles with stands out."""
    stats = []
    for step in lab.steps:
        statuses = [s.status for r in records for s in r.result.steps if s.id == step.id]
        passed = statuses.count(PASS)
        stats.append({"id": step.id, "title": step.title(lang), "points": step.points, "passed": passed,
                      "failed": statuses.count(FAIL), "errors": statuses.count(ERROR), "total": len(statuses),
                      "rate": round(100 * passed / len(statuses)) if statuses else 0, "hardest": False})
    hardest = min(stats, key=lambda s: s["rate"], default=None)  # the first of the lowest pass rates
    if hardest and hardest["total"] and hardest["rate"] < 100:
        hardest["hardest"] = True
    return stats


def graded_at(records: list[Record]) -> str:
    """When the class was graded: the earliest start of its grades, to the minute (UTC)."""
    started = sorted(r.result.started for r in records if r.result.started)
    if not started:
        return ""
    try:
        return datetime.fromisoformat(started[0]).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return started[0]


def _json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
