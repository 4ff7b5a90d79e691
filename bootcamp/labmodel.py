"""Labs and their steps, loaded from each lab folder's lab.toml."""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType

from bootcamp import emulators
from bootcamp.errors import UnknownLab
from bootcamp.settings import LOCALSTACK_MISSING

LABS_DIR = Path(__file__).resolve().parent.parent / "labs"


@cache
def _text_env():
    """Jinja2, loaded only when a text has placeholders to fill (`lab.list` needs none)."""
    from jinja2 import Environment, StrictUndefined

    return Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class Text:
    """One piece of learner-facing text in every language it is written in."""

    by_lang: dict[str, str]

    def __call__(self, lang: str = "en", **facts) -> str:
        source = self.by_lang.get(lang) or self.by_lang["en"]
        templated = facts or "{{" in source or "{%" in source  # a text of {% if %} alone is a template too
        return _text_env().from_string(source).render(**facts) if templated else source


@dataclass(frozen=True)
class Step:
    id: str
    title: Text
    points: int
    hint: Text
    messages: dict[str, Text] = field(default_factory=dict)

    def message(self, key: str, lang: str = "en", **facts) -> str:
        return self.messages[key](lang, **facts)


@dataclass(frozen=True)
class Lab:
    id: str
    title: Text
    summary: Text
    services: tuple[str, ...]
    steps: tuple[Step, ...]
    folder: Path
    needs: tuple[str, ...] = ()  # calls (and parts of calls) its graders rely on, beyond its services

    @property
    def package(self) -> str:
        return f"labs.{self.folder.name}"

    @property
    def provision(self) -> ModuleType:
        return importlib.import_module(f"{self.package}.provision")

    @property
    def collect(self) -> ModuleType:
        return importlib.import_module(f"{self.package}.collect")

    @property
    def grader_file(self) -> Path:
        return LABS_DIR.parent / "graders" / f"test_{self.folder.name}.py"

    @property
    def grader_module(self) -> str:
        return f"graders.test_{self.folder.name}"

    @property
    def max_points(self) -> int:
        return sum(s.points for s in self.steps)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"lab {self.id} has no step {step_id}")

    def targets(self) -> dict[str, str]:
        """Each target and whether it can run this lab ('' when it can, else where not and why)."""
        missing = [s for s in self.services if s in LOCALSTACK_MISSING]
        why = []
        if missing:
            why.append(f"not on LocalStack's free edition (no {', '.join(missing)})")
        elif "dynamodb" in self.services:
            why.append("on LocalStack only where its DynamoDB works (it needs a download)")
        lacking: dict[str, list[str]] = {}
        for gap in emulators.catalog()[1]:
            if gap.need in self.needs:
                lacking.setdefault(gap.emulator, []).append(gap.need)
        why += [f"not on {name} (it lacks {', '.join(needs)})" for name, needs in sorted(lacking.items())]
        return {"embedded": "", "localstack": "; ".join(why), "aws": ""}


def _text(value, where: str) -> Text:
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, dict) or "en" not in value:
        raise ValueError(f"{where}: text needs at least an 'en' entry")
    return Text(dict(value))


def load_lab(folder: Path) -> Lab:
    where = folder / "lab.toml"
    data = tomllib.loads(where.read_text(encoding="utf-8"))
    shared = data.get("messages", {})
    steps = tuple(
        Step(id=str(s["id"]), title=_text(s["title"], f"{where} step {s['id']} title"),
             points=int(s.get("points", 1)), hint=_text(s["hint"], f"{where} step {s['id']} hint"),
             messages={k: _text(v, f"{where} step {s['id']} message {k}")
                       for k, v in {**shared, **s.get("messages", {})}.items()})
        for s in data["steps"])
    return Lab(id=str(data["id"]), title=_text(data["title"], f"{where} title"),
               summary=_text(data.get("summary", ""), f"{where} summary"),
               services=tuple(data.get("services", ())), steps=steps, folder=folder,
               needs=tuple(data.get("needs", ())))


@cache
def all_labs() -> dict[str, Lab]:
    labs = [load_lab(p.parent) for p in sorted(LABS_DIR.glob("*/lab.toml"))]
    return {lab.id: lab for lab in sorted(labs, key=lambda lab: int(lab.id))}


def get_lab(lab_id) -> Lab:
    labs = all_labs()
    key = str(lab_id).strip().removeprefix("lab").strip()
    if key not in labs:
        choices = ", ".join(f"{lab.id} ({lab.title()})" for lab in labs.values())
        raise UnknownLab(f"unknown lab '{lab_id}': choose one of {choices}")
    return labs[key]
