"""Write a class's files, from one run or from the folders of its shards."""

from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path

from bootcamp.classroom.outputs import SCHEMA, Record, learner_dir, write_class, write_learner
from bootcamp.classroom.run import ClassGrade
from bootcamp.errors import BootcampError
from bootcamp.labmodel import get_lab
from bootcamp.results import GradeResult


def write(graded: ClassGrade, out: Path) -> list[Record]:
    """Every file of one (possibly sharded) run."""
    records = []
    for g in graded.grades:
        record = Record(g.learner.id, g.learner.name, g.learner.line, g.result, g.error)
        write_learner(out, record, g.inventory)
        records.append(record)
    problems = [{"line": p.line, "learner": p.learner, "message": p.message} for p in graded.problems]
    write_class(out, graded.lab, graded.target, graded.lang, records, problems, "/".join(map(str, graded.shard)),
                graded.roster)
    return records


def merge(parts: list[Path], out: Path) -> tuple[list[Record], list[dict]]:
    """Join shard folders into one class folder: the same files one unsharded run writes."""
    if not parts:
        raise BootcampError("class.merge needs at least one shard folder (the --out of a class.grade run)")
    summaries = [_summary(part) for part in parts]
    _same_run(parts, summaries)
    labs = {s["lab"] for s in summaries}
    targets = {s["target"] for s in summaries}
    langs = {s["lang"] for s in summaries}
    lab = get_lab(labs.pop())
    records, problems, seen = [], [], {}
    for part, summary in zip(parts, summaries):
        problems += summary["problems"]
        for learner in summary["learners"]:
            if learner["id"] in seen:
                raise BootcampError(f"learner {learner['id']} is in both {seen[learner['id']]} and {part}: "
                                    "were two runs of the same shard given?")
            seen[learner["id"]] = part
            source = learner_dir(part, learner["id"])
            result = GradeResult.from_dict(json.loads((source / "grade.json").read_text(encoding="utf-8")))
            records.append(Record(learner["id"], learner["name"], learner["line"], result, learner["error"]))
            target_dir = learner_dir(out, learner["id"])
            if source.resolve() != target_dir.resolve():
                shutil.copytree(source, target_dir, dirs_exist_ok=True)
    write_class(out, lab, targets.pop(), langs.pop(), records, problems, roster=summaries[0].get("roster", ""))
    return records, problems


RUN_KEYS = {"lab": "lab", "target": "target", "roster": "roster", "shard": "shard count"}


def _same_run(parts: list[Path], summaries: list[dict]) -> None:
    """Refuse, naming two parts, shards of different class.grade runs (lab, target, roster, shard count)."""
    first, base = parts[0], summaries[0]
    for part, summary in zip(parts[1:], summaries[1:]):
        for key, what in RUN_KEYS.items():
            mine, theirs = (str(s.get(key, "")) for s in (base, summary))
            if key == "shard":
                mine, theirs = mine.partition("/")[2], theirs.partition("/")[2]
            if mine != theirs:
                raise BootcampError(f"{first} and {part} are shards of different class.grade runs (another {what}: "
                                    f"{mine or '?'} and {theirs or '?'}): merge the parts of one run")


def find_parts(spec: str) -> list[Path]:
    """Shard folders from a glob, a comma-separated list, or a folder that holds them (in name order)."""
    found: list[Path] = []
    for item in (x.strip() for x in spec.split(",") if x.strip()):
        matches = sorted(Path(p) for p in glob.glob(item)) if glob.has_magic(item) else [Path(item)]
        for path in matches:
            if (path / "class.json").exists():
                found.append(path)
            elif path.is_dir():
                found += sorted(p.parent for p in path.glob("*/class.json"))
    if not found:
        raise BootcampError(f"no class.grade output folders (with a class.json) in '{spec}'")
    return found


def _summary(part: Path) -> dict:
    path = Path(part) / "class.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BootcampError(f"{part} is not a class.grade output folder (no class.json)") from None
    except (OSError, ValueError) as exc:
        raise BootcampError(f"cannot read {path}: {exc}") from None
    if summary.get("schema") != SCHEMA:
        raise BootcampError(f"{path} is not a class summary of this version ({summary.get('schema')})")
    return summary
