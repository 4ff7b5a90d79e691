"""A lab's step-by-step guide: its labs/labN/guide.toml text, laid out by templates/guide.{md,html}.

Step ids, titles, points and hints come from lab.toml, so the guide, `lab.grade` and its hints
never disagree. Text is Jinja2 over the learner's values (bootcamp.guide_values); commands are
written once, for every language, so what a learner runs does not depend on the language read.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

from jinja2 import TemplateError

from bootcamp.errors import BootcampError
from bootcamp.labmodel import Lab
from bootcamp.render import TEMPLATES, render, render_text
from bootcamp.settings import LANGS, TARGETS

GUIDE_FILE = "guide.toml"
SHARED_FILE = TEMPLATES / "guide.toml"  # the layout's own words and the setup every lab shares
FORMATS = ("md", "html")
PER_STEP_LABELS = ("step", "points")  # filled in per step, with its id and points
_FENCE = re.compile(r"^```bash\n(.*?)^```[ \t]*$", re.M | re.S)


class GuideError(BootcampError):
    pass


@dataclass(frozen=True)
class Block:
    """Commands run in order in one shell, after a note saying what they do and what to expect."""

    note: dict[str, str]
    run: str
    targets: tuple[str, ...] = TARGETS  # where these commands apply: a block can be for one target only


@dataclass(frozen=True)
class StepText:
    console: dict[str, str]
    cli: tuple[Block, ...]


@dataclass(frozen=True)
class GuideText:
    """One guide file as written: text by language, keyed by step id."""

    path: Path
    prepared: dict[str, str]
    steps: dict[str, StepText]


def _bilingual(value, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise GuideError(f"{where}: expected text per language, like {where}.en and {where}.ko")
    if any("```" in v for v in value.values()):
        raise GuideError(f"{where}: commands go in a [[steps.cli]] block's `run`, not in prose")
    return dict(value)


def _blocks(entries, where: str) -> tuple[Block, ...]:
    found = []
    for n, entry in enumerate(entries, 1):
        targets = tuple(entry.get("targets", TARGETS))
        if not set(targets) <= set(TARGETS) or "run" not in entry:
            raise GuideError(f"{where} {n}: needs `run`, and `targets` among {', '.join(TARGETS)}")
        found.append(Block(note=_bilingual(entry.get("note", {}), f"{where} {n} note"),
                           run=str(entry["run"]).strip(), targets=targets))
    return tuple(found)


@cache
def load_text(path: Path) -> GuideText:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GuideError(f"no guide for this lab yet: {path} is missing") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GuideError(f"{path}: {exc}") from None
    steps = {}
    for entry in data.get("steps", []):
        step_id = str(entry.get("id", ""))
        if step_id in steps:
            raise GuideError(f"{path}: step {step_id} has two sections")
        where = f"{path.name} step {step_id}"
        steps[step_id] = StepText(console=_bilingual(entry.get("console", {}), f"{where} console"),
                                  cli=_blocks(entry.get("cli", []), f"{where} cli"))
    return GuideText(path=path, prepared=_bilingual(data.get("prepared", {}), f"{path.name} prepared"),
                     steps=steps)


def guide_text(lab: Lab) -> GuideText:
    return load_text(lab.folder / GUIDE_FILE)


def problems(lab: Lab, text: GuideText) -> list[str]:
    """What keeps a guide from matching its lab: missing steps, unknown steps, missing languages."""
    known = [s.id for s in lab.steps]
    found = [f"step {s} is not a step of lab {lab.id}" for s in text.steps if s not in known]
    found += [f"step {s} has no section" for s in known if s not in text.steps]
    for lang in LANGS:
        texts = {"prepared": text.prepared}
        for step_id, step in text.steps.items():
            texts[f"step {step_id} console"] = step.console
            texts.update({f"step {step_id} cli {n + 1} note": b.note for n, b in enumerate(step.cli)})
        found += [f"{where} has no '{lang}' text" for where, t in texts.items() if not t.get(lang, "").strip()]
    found += [f"step {s} has no commands for target {t}" for s, step in text.steps.items()
              for t in TARGETS if not any(t in b.targets for b in step.cli)]
    return found


@cache
def _shared() -> dict:
    return tomllib.loads(SHARED_FILE.read_text(encoding="utf-8"))


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise GuideError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
    return fmt


def render_guide(lab: Lab, lang: str, fmt: str, values: dict[str, str]) -> str:
    """The guide for one lab in one language and format, with the learner's values filled in."""
    check_format(fmt)
    if lang not in LANGS:
        raise GuideError(f"unknown language '{lang}': use one of {', '.join(LANGS)}")
    text = guide_text(lab)
    wrong = problems(lab, text)
    if wrong:
        raise GuideError(f"{text.path}: {wrong[0]}" + (f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""))
    context = {**values, "lab_id": lab.id, "lang": lang, "title": lab.title(lang)}
    shared = _shared()

    def fill(source: str, where: str, **extra) -> str:
        try:
            return render_text(source, **context, **extra).strip()
        except TemplateError as exc:  # StrictUndefined: the text names a value nobody gave
            raise GuideError(f"{where}: {exc.message}") from None

    def blocks(entries: tuple[Block, ...], where: str) -> list[dict]:
        return [{"note": fill(b.note[lang], f"{where} note"), "run": fill(b.run, f"{where} run")}
                for b in entries if values["target"] in b.targets]

    def label(key: str, **extra) -> str:
        return fill(shared["labels"][key][lang], f"{SHARED_FILE.name} labels.{key}", **extra)

    mine = text.path.name
    steps = [{"id": step.id, "anchor": anchor(step.id), "title": step.title(lang), "points": step.points,
              "label": label("step", id=step.id), "points_label": label("points", n=step.points),
              "console": fill(text.steps[step.id].console[lang], f"{mine} step {step.id} console"),
              "cli": blocks(text.steps[step.id].cli, f"{mine} step {step.id} cli"),
              "hint": step.hint(lang)}
             for step in lab.steps]
    labels = {key: label(key) for key in shared["labels"] if key not in PER_STEP_LABELS}
    page = render(f"guide.{fmt}", lang=lang, labels=labels, values=context, steps=steps,
                  lab={"id": lab.id, "title": lab.title(lang), "summary": lab.summary(lang)},
                  prepared=fill(text.prepared[lang], f"{mine} prepared"),
                  setup=blocks(_blocks(shared["setup"], f"{SHARED_FILE.name} setup"), "setup"),
                  finish=blocks(_blocks(shared["finish"], f"{SHARED_FILE.name} finish"), "finish"))
    return page.rstrip() + "\n"


def anchor(step_id: str) -> str:
    """The HTML id of a step's section: step-2-4 for step 2.4."""
    return "step-" + step_id.replace(".", "-")


class _BashBlocks(HTMLParser):
    def __init__(self):
        super().__init__()
        self.blocks: list[str] = []
        self._open = False

    def handle_starttag(self, tag, attrs):
        if tag == "code" and "language-bash" in (dict(attrs).get("class") or "").split():
            self._open = True
            self.blocks.append("")

    def handle_endtag(self, tag):
        if tag == "code":
            self._open = False

    def handle_data(self, data):
        if self._open:
            self.blocks[-1] += data


def runnable_blocks(rendered: str, fmt: str = "md") -> list[str]:
    """The commands of a rendered guide, in order: its bash blocks (```bash, or code.language-bash)."""
    if fmt == "html":
        parser = _BashBlocks()
        parser.feed(rendered)
        return [b.strip() for b in parser.blocks]
    return [b.strip() for b in _FENCE.findall(rendered)]
