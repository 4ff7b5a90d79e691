"""The class roster: a CSV of learners and how to reach each one's account, never a secret."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from bootcamp.errors import BootcampError
from bootcamp.settings import REGION_NAME

COLUMNS = ("learner_id", "name", "profile", "role_arn", "external_id", "sandbox_account", "region")
WAYS = ("profile", "role_arn", "sandbox_account")
LEARNER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
ACCOUNT = re.compile(r"^\d{12}$")
SECRET_COLUMN = re.compile(r"secret|password|passwd|token|access_key", re.I)
SECRET_VALUE = (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),  # an access key id
                re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"))  # a secret access key


@dataclass(frozen=True)
class Learner:
    id: str
    name: str
    line: int  # the roster line, so every report can point back to it
    profile: str = ""
    role_arn: str = ""
    external_id: str = ""
    sandbox_account: str = ""
    region: str = ""

    @property
    def way(self) -> str:
        return next(w for w in WAYS if getattr(self, w))

    @property
    def account_hint(self) -> str:
        """The account id when the roster says it (role ARN or sandbox account), else ''."""
        if self.sandbox_account:
            return self.sandbox_account
        found = ROLE_ARN.match(self.role_arn)
        return found.group(1) if found else ""


@dataclass(frozen=True)
class RosterProblem:
    line: int
    learner: str
    message: str

    def __str__(self) -> str:
        who = f" ({self.learner})" if self.learner else ""
        return f"roster line {self.line}{who}: {self.message}"


@dataclass
class Roster:
    path: str
    learners: list[Learner] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)
    rows: int = 0  # data rows, good and bad: shards split by row position

    def shard(self, index: int, count: int) -> "Roster":
        """Rows k, k+n, k+2n...: every row (and its problem, if any) lands in exactly one shard."""
        keep = lambda line: (line - 2) % count == index - 1  # noqa: E731 - line 2 is the first data row
        return Roster(self.path, [x for x in self.learners if keep(x.line)],
                      [p for p in self.problems if keep(p.line)], self.rows)


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 1, 1
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not found or not 1 <= int(found.group(1)) <= int(found.group(2)):
        raise BootcampError(f"--shard '{text}' is not K/N with 1 <= K <= N, e.g. --shard 3/8")
    return int(found.group(1)), int(found.group(2))


def load(path: Path | str) -> Roster:
    """Read a roster; a bad file is one error, a bad row is a problem and the rest still counts."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BootcampError(f"no roster at {path}: give --roster a CSV with columns {', '.join(COLUMNS[:2])}, "
                            "and one of profile, role_arn or sandbox_account") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BootcampError(f"cannot read roster {path}: {exc}") from None
    return parse(text, str(path))


def parse(text: str, where: str = "roster") -> Roster:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise BootcampError(f"{where} is empty: its first line names the columns ({', '.join(COLUMNS)})")
    secret = [h for h in header if SECRET_COLUMN.search(h)]
    if secret:
        raise BootcampError(f"{where} has a column for secrets ({', '.join(secret)}): a roster names a profile, "
                            "a role to assume or a sandbox account, never keys or passwords; remove it")
    unknown = [h for h in header if h not in COLUMNS]
    if "learner_id" not in header or unknown:
        raise BootcampError(f"{where}: columns must be among {', '.join(COLUMNS)} with learner_id first"
                            + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    reader.fieldnames = header
    roster, seen = Roster(where), {}
    for row in reader:
        line = reader.line_num
        roster.rows += 1
        learner_or_problem = _row(row, line, seen)
        if isinstance(learner_or_problem, Learner):
            seen[learner_or_problem.id] = line
            roster.learners.append(learner_or_problem)
        else:
            roster.problems.append(learner_or_problem)
    return roster


def _row(row: dict, line: int, seen: dict[str, int]) -> Learner | RosterProblem:
    if None in row:
        return RosterProblem(line, "", f"{len(row[None])} more value(s) than the header has columns")
    values = {k: (v or "").strip() for k, v in row.items()}
    learner = values.get("learner_id", "")
    problem = lambda message: RosterProblem(line, learner, message)  # noqa: E731
    for column, value in values.items():
        if any(p.search(value) for p in SECRET_VALUE) and column != "role_arn":
            # A key where the learner's id belongs: every report names the row by its line alone.
            who = "" if column == "learner_id" else learner
            return RosterProblem(line, who, f"column {column} holds what looks like an AWS key: refused; name a "
                                 "profile or a role to assume instead (and rotate that key)")
    if not LEARNER_ID.match(learner):
        return problem("learner_id must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if learner in seen:
        return problem(f"learner_id {learner} is already on line {seen[learner]}")
    ways = [w for w in WAYS if values.get(w)]
    if len(ways) != 1:
        return problem("give exactly one of profile, role_arn or sandbox_account"
                       + (f" (this row has {', '.join(ways)})" if ways else ""))
    if values.get("role_arn") and not ROLE_ARN.match(values["role_arn"]):
        return problem(f"role_arn '{values['role_arn']}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    if values.get("external_id") and not values.get("role_arn"):
        return problem("external_id only goes with role_arn")
    if values.get("sandbox_account") and not ACCOUNT.match(values["sandbox_account"]):
        return problem(f"sandbox_account '{values['sandbox_account']}' is not a 12-digit account id")
    if values.get("region") and not REGION_NAME.match(values["region"]):
        return problem(f"region '{values['region']}' is not an AWS region name")
    return Learner(id=learner, name=values.get("name", ""), line=line,
                   **{k: values.get(k, "") for k in ("profile", "role_arn", "external_id", "sandbox_account", "region")})
