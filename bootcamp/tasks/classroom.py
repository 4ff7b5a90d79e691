"""`invoke class.*`: grade a whole class from a roster, and merge the shards of a CI run."""

from pathlib import Path

from invoke import Exit, task

from bootcamp import checks
from bootcamp.tasks import TARGET_HELP, friendly, settings

WORKERS = 4  # the default: no int default, so that invoke leaves a bad --workers to checks.count


@task(help={"roster": "CSV of learners: learner_id, name, and one of profile, role_arn (+ external_id) "
                      "or sandbox_account (see the README)",
            "lab": "lab number to grade", "out": "folder for the gradebook, reports and per-learner files",
            "shard": "grade only part K of N of the roster, e.g. 3/8 (for a CI job matrix)",
            "workers": f"learners collected at once (default {WORKERS})",
            **{k: TARGET_HELP[k] for k in ("target", "region", "port", "profile", "lang", "endpoint_url")}})
@friendly
def grade(c, roster, lab, out, shard=None, workers=None, target=None, region=None, port=None, profile=None,
          lang=None, endpoint_url=None):
    """Grade every learner of a roster; exit 0 all pass, 1 some step fails, 2 some learner could not be graded."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bootcamp.classroom import merge as merging
    from bootcamp.classroom import roster as rosters
    from bootcamp.classroom.run import grade_class
    from bootcamp.labmodel import get_lab
    from bootcamp.targets import make_target

    s = settings(c, target=target, region=region, sandbox_port=port, profile=profile, lang=lang,
                 endpoint_url=endpoint_url)
    lab_ = get_lab(lab)
    workers = checks.count(WORKERS if workers is None else workers, "--workers", 1, 64)
    checks.output_dir(out, "--out")
    index, count = rosters.parse_shard(shard)
    class_roster = rosters.load(roster).shard(index, count)
    console = Console(stderr=True)
    for problem in class_roster.problems:
        console.print(f"[yellow]{problem}[/yellow]", highlight=False)
    columns = (TextColumn("lab {task.fields[lab]}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("collect", total=len(class_roster.learners), lab=lab_.id)
        graded = grade_class(lab_, class_roster, make_target(s), s.lang, workers,
                             progress=lambda _: progress.advance(bar))
    graded.shard, graded.roster = (index, count), class_roster.digest
    records = merging.write(graded, Path(out))
    _report(records, graded.problems, Path(out))
    raise Exit(code=graded.exit_code)


@task(help={"parts": "the shards' --out folders: a quoted glob ('parts/part-*'), a comma-separated list, "
                     "or the folder that holds them", "out": "folder for the merged files"})
@friendly
def merge(c, parts, out):
    """Join the outputs of sharded class.grade runs into one gradebook and one set of reports."""
    from bootcamp.classroom import merge as merging

    checks.output_dir(out, "--out")
    records, problems = merging.merge(merging.find_parts(parts), Path(out))
    _report(records, problems, Path(out))


def _report(records, problems, out: Path) -> None:
    from bootcamp.classroom.outputs import counts

    found = counts(records)
    print(f"{len(records)} learners graded: {found['PASS']} passed every step, {found['FAIL']} not finished, "
          f"{found['ERROR']} could not be fully graded; {len(problems)} roster row(s) skipped. "
          f"Gradebook: {out / 'gradebook.csv'}, report: {out / 'report.html'}")
