"""A grade's results and their documented JSON form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from bootcamp.redact import redact_text

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"
SCHEMA = "aws-bootcamp-labs/grade/v1"


@dataclass
class StepResult:
    id: str
    title: str
    status: str
    points: int
    max_points: int
    message: str = ""
    hint: str = ""
    notes: list[str] = field(default_factory=list)  # warnings and what could not be checked

    def __setattr__(self, name, value):
        # Every report shows these texts; a message may quote what the learner wrote (user data).
        if name in ("message", "hint"):
            value = redact_text(value)
        elif name == "notes":
            value = [redact_text(n) for n in value]
        super().__setattr__(name, value)


@dataclass
class GradeResult:
    lab: str
    title: str
    target: str
    account: str
    region: str
    started: str
    finished: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(s.points for s in self.steps)

    @property
    def max_score(self) -> int:
        return sum(s.max_points for s in self.steps)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.status == PASS for s in self.steps)

    def overall(self, error: str = "") -> str:
        """One status for the whole grade: ERROR when anything could not be judged, else PASS or FAIL."""
        if error or any(s.status == ERROR for s in self.steps):
            return ERROR
        return PASS if self.passed else FAIL

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, **asdict(self), "score": self.score, "max_score": self.max_score}

    @classmethod
    def from_dict(cls, payload: dict) -> "GradeResult":
        """Read back what to_dict wrote (a grade.json), e.g. to merge shards of a class."""
        fields = {k: payload[k] for k in ("lab", "title", "target", "account", "region", "started", "finished")}
        return cls(**fields, steps=[StepResult(**s) for s in payload.get("steps", [])])


def now() -> str:
    """A grade's clock: UTC, to the second, as reports show it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def result_of(lab, inventory, steps: list[StepResult], started: str, lang: str) -> GradeResult:
    """A lab's grade from its judged steps and the inventory they judged (whose target, account, region)."""
    meta = inventory.meta
    return GradeResult(lab=lab.id, title=lab.title(lang), target=meta.get("target", ""),
                       account=meta.get("account", ""), region=meta.get("region", ""),
                       started=started, finished=now(), steps=steps)
