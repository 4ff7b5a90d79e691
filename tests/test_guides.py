"""Lab guides: one per lab in both languages, keyed by lab.toml's steps, agreeing with the hints,
readable in a browser, and proven: their commands, replayed with the real AWS CLI against the
sandbox, make `lab.grade` pass every step."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import ROOT, LabDriver, invoke_client, run_invoke, sandbox_env

from bootcamp.guide import GUIDE_FILE, GuideError, anchor, guide_text, problems, render_guide, runnable_blocks
from bootcamp.guide_values import UNKNOWN_ACCOUNT, learner_values
from bootcamp.labmodel import all_labs, get_lab
from bootcamp.results import PASS
from bootcamp.sandbox import control
from bootcamp.settings import LANGS, TARGETS, Settings

LABS = list(all_labs().values())
BY_LAB = {"ids": lambda lab: f"lab{lab.id}"}
VENV_BIN = Path(sys.executable).parent  # where this Python's `aws` and `invoke` are


def sample_values(target: str) -> dict[str, str]:
    """What learner_values gives on each target, without needing one to answer."""
    return {"target": target, "account_id": "210987654321", "region": "eu-west-1", "profile": "",
            "endpoint": {"embedded": "http://127.0.0.1:4599", "localstack": "http://localhost:4566"}.get(target, ""),
            "owner": "learner", "bucket_suffix": "0042", "state_file": "/home/learner/.aws-bootcamp/state/x.json",
            "initials": "le", "app_port": "8080", "sandbox_port": "4599", "lab_dir": "/home/learner/.aws-bootcamp/lab3/embedded-210987654321",
            "console_url": "https://210987654321.signin.aws.amazon.com/console"}


def without_hints(section: str) -> str:
    return "\n".join(line for line in section.splitlines() if not line.startswith(">"))


def step_sections(markdown: str) -> dict[str, str]:
    """Each step's part of a markdown guide, by the step id in its heading."""
    headed = [(re.match(r"[^\n]*?(\d+\.\d+)", part), part) for part in re.split(r"^## ", markdown, flags=re.M)]
    return {found.group(1): part for found, part in headed if found}


# --- every lab has a guide, keyed by its steps, in both languages -----------------------------

@pytest.mark.parametrize("lab", LABS, **BY_LAB)
def test_every_lab_has_a_guide_matching_its_steps_in_both_languages(lab):
    assert (lab.folder / GUIDE_FILE).exists(), f"lab {lab.id} has no {GUIDE_FILE}"
    assert problems(lab, guide_text(lab)) == []


def broken_copy(tmp_path: Path, edit) -> object:
    """Lab 1 with its guide rewritten by `edit`, in a folder of its own."""
    source = (get_lab("1").folder / GUIDE_FILE).read_text(encoding="utf-8")
    (tmp_path / GUIDE_FILE).write_text(edit(source), encoding="utf-8")
    return dataclasses.replace(get_lab("1"), folder=tmp_path)


def test_problems_name_unknown_missing_and_untranslated_sections(tmp_path):
    lab = broken_copy(tmp_path, lambda text: text.replace('id = "1.4"', 'id = "1.9"')
                      .replace("console.ko = ", "console.jp = ", 1))
    found = problems(lab, guide_text(lab))
    assert "step 1.9 is not a step of lab 1" in found
    assert "step 1.4 has no section" in found
    assert "step 1.1 console has no 'ko' text" in found
    with pytest.raises(GuideError, match="is not a step of lab 1"):
        render_guide(lab, "en", "md", sample_values("embedded"))


def test_a_value_the_text_names_but_nobody_gives_is_an_error(tmp_path):
    lab = broken_copy(tmp_path, lambda text: text.replace("{{ state_file }}", "{{ state_fiel }}"))
    with pytest.raises(GuideError, match="state_fiel"):
        render_guide(lab, "en", "md", sample_values("aws"))


# --- rendering: every lab, target, language and format -----------------------------------------

@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("lab", LABS, **BY_LAB)
def test_guide_renders_every_step_in_both_languages_and_formats(lab, target):
    values = sample_values(target)
    commands = None
    for lang in LANGS:
        markdown = render_guide(lab, lang, "md", values)
        html = render_guide(lab, lang, "html", values)
        assert f'<html lang="{lang}">' in html
        assert not re.search(r"<script|<link|src=|@import", html), "the HTML guide must be self-contained"
        for step in lab.steps:
            assert step.title(lang) in markdown and step.title(lang) in unescape(html)
            assert f'id="{anchor(step.id)}"' in html
        assert values["account_id"] in markdown and values["region"] in markdown
        assert runnable_blocks(markdown) == runnable_blocks(html, "html"), "md and html must run the same commands"
        commands = commands or runnable_blocks(markdown)
        assert runnable_blocks(markdown) == commands, "commands must not depend on the language"
    sandbox_only = 'eval "$(invoke sandbox.env)"'
    assert (sandbox_only in "\n".join(commands)) == (target == "embedded")


@pytest.mark.parametrize("lab", LABS, **BY_LAB)
def test_guide_and_grade_hints_agree(lab):
    """A hint's console path and commands are what the guide's step says, in the same language."""
    for lang in LANGS:
        sections = step_sections(render_guide(lab, lang, "md", sample_values("embedded")))
        for step in lab.steps:
            hint, section = step.hint(lang), sections[step.id]
            assert hint in section
            body = without_hints(section)
            for path in re.findall(r"\(([^()]*? > [^()]*)\)", hint):
                for label in re.split(r" > | / ", path.split(", ")[0]):
                    assert label in body, f"{lang} step {step.id}: hint names '{label}', its guide does not"
            for command in re.findall(r"`((?:aws [a-z0-9-]+ [a-z0-9-]+)|(?:invoke [a-z]+\.[a-z]+))", hint):
                assert command in body, f"{lang} step {step.id}: hint runs `{command}`, its guide does not"


def test_values_are_the_learners_own(settings):
    lab = get_lab("1")
    values, unknown = learner_values(settings.but(region="eu-central-1"), lab)
    assert unknown == "" and set(values) == set(sample_values("embedded"))
    guide = render_guide(lab, "en", "md", values)
    assert f"account {settings.sandbox_account}" in guide and control.endpoint(settings) in guide
    assert "export BOOTCAMP_REGION=eu-central-1" in guide
    assert 'eval "$(invoke sandbox.env)"' in runnable_blocks(guide)[0]


def test_an_unreachable_target_gives_placeholders(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask a metadata service for keys
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    lab = get_lab("1")
    values, unknown = learner_values(Settings.from_env(env={}, home=tmp_path, target="aws"), lab)
    assert "credentials" in unknown
    assert values["account_id"] == UNKNOWN_ACCOUNT and values["endpoint"] == ""
    guide = render_guide(lab, "en", "md", values)
    assert f"arn:aws:iam::{UNKNOWN_ACCOUNT}:user/$user" in guide
    assert "sandbox.env" not in "\n".join(runnable_blocks(guide))


# --- the guide is proven: its commands make every step pass ------------------------------------

def replay(blocks: list[str], settings, work: Path, aws_cli: Path, env: dict | None = None,
           stdin=None) -> subprocess.CompletedProcess:
    """A learner's shell: one bash running the blocks in order, plain `aws` and `invoke` on PATH; `env`
    instead of the sandbox's (`sandbox_env`), `stdin` (e.g. a terminal) instead of none.

    A learner types `invoke ...` in the project folder, where invoke finds tasks.py. The replay
    runs in a scratch folder instead, so files the commands write (user-data.sh) stay out of the
    checkout; its `invoke` is told where the project is (`--search-root`). Its `invoke` and `aws`
    are the project's tasks and the real AWS CLI, each forked from one loaded copy (`invoke_client`,
    `aws_cli`) instead of started anew each time.
    """
    shim = work / "bin" / "invoke"
    shim.parent.mkdir()
    shim.symlink_to(invoke_client(("--search-root", str(ROOT))))
    (shim.parent / "aws").symlink_to(aws_cli)
    env = {**(sandbox_env(settings) if env is None else env), "BOOTCAMP_OWNER": settings.owner,
           "HOME": str(work), "LANG": "C.UTF-8",
           "PATH": os.pathsep.join([str(shim.parent), str(VENV_BIN), "/usr/bin", "/bin"]),
           "AWS_EC2_METADATA_DISABLED": "true"}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(blocks)], cwd=work, env=env, stdin=stdin,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("lab", LABS, **BY_LAB)
def test_guide_commands_make_every_step_pass(lab, settings, tmp_path, aws_cli):
    settings = settings.but(app_port=control.free_port())  # lab 3's guide serves the app in the background
    driver = LabDriver(lab.id, settings)
    driver.run("start")
    values, unknown = learner_values(settings, lab)
    assert unknown == ""
    blocks = runnable_blocks(render_guide(lab, "en", "md", values))
    assert blocks == runnable_blocks(render_guide(lab, "ko", "md", values)), "commands must not depend on the language"
    try:
        shell = replay(blocks, settings, tmp_path, aws_cli)
        failing = [f"{s.id} {s.status}: {s.message}" for s in driver.grade().steps if s.status != PASS]
    finally:
        for app in control.registered_apps(settings, settings.sandbox_account):
            os.kill(app["pid"], signal.SIGTERM)  # what the guide left running, as a learner would
    output = (f"\n--- the guide's shell (exit {shell.returncode}) ---\n{shell.stdout[-2000:]}"
              f"\n--- its stderr ---\n{shell.stderr[-3000:]}")
    assert not failing, "after the guide's commands:\n" + "\n".join(failing) + output
    assert shell.returncode == 0, output
    assert not re.search(r"^error: ", shell.stderr, re.M), "an invoke command failed" + output


@pytest.mark.parametrize("lab", LABS, **BY_LAB)
def test_grade_hints_in_the_configured_language_are_the_guides(lab, settings, tmp_path):
    LabDriver(lab.id, settings).run("start")
    report = tmp_path / "grade.json"
    out = run_invoke("lab.grade", lab.id, "--json", str(report), env={**sandbox_env(settings), "BOOTCAMP_LANG": "ko"})
    assert out.returncode == 1, out.stdout + out.stderr
    guide = render_guide(lab, "ko", "md", learner_values(settings, lab)[0])
    for step in json.loads(report.read_text())["steps"]:
        assert step["title"] == lab.step(step["id"]).title("ko")
        assert step["hint"] and step["hint"] in guide, f"step {step['id']}: lab.grade's hint is not the guide's"


# --- the HTML guide in a real browser ----------------------------------------------------------

class Page(HTMLParser):
    """A dumped DOM: the html element's lang, and the text inside every element with an id."""

    VOID = {"meta", "link", "br", "hr", "img", "input", "wbr", "source", "area", "base", "col", "embed"}

    def __init__(self, dom: str):
        super().__init__()
        self.lang, self.text, self.bash_blocks = None, {}, 0
        self._open: list[str | None] = []
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        if tag == "code" and "language-bash" in (attrs.get("class") or ""):
            self.bash_blocks += 1
        if tag not in self.VOID:
            self._open.append(attrs.get("id"))
            if attrs.get("id"):
                self.text[attrs["id"]] = ""

    def handle_endtag(self, tag):
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data):
        for element in filter(None, self._open):
            self.text[element] += data


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed, so the HTML guides were not looked at in a browser: "
                    "install the Debian package `chromium` (.ci/run does)")
    pytest.skip("chromium is not installed (apt-get install chromium): HTML guides not checked in a browser")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("lab", LABS, **BY_LAB)
def test_html_guide_shows_every_step_in_a_browser(lab, lang, settings, tmp_path):
    browser = chromium()
    page = tmp_path / f"lab{lab.id}.{lang}.html"
    values, _ = learner_values(settings, lab)
    page.write_text(render_guide(lab, lang, "html", values), encoding="utf-8")
    shown = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert shown.returncode == 0 and "</html>" in shown.stdout, shown.stderr[-2000:]
    dom = Page(shown.stdout)
    assert dom.lang == lang
    for step in lab.steps:
        section = " ".join(dom.text.get(anchor(step.id), "").split())
        assert step.id in section and step.title(lang) in section, f"step {step.id} is not shown in {lang}"
        assert " ".join(step.hint(lang).replace("`", "").split()) in section
    assert dom.bash_blocks == len(runnable_blocks(render_guide(lab, lang, "md", values)))
    assert "**" not in prose(shown.stdout), "emphasis left unrendered"


def prose(html: str) -> str:
    """A page's text outside code blocks (where `**` could only be a learner's command)."""
    return unescape(re.sub(r"<[^>]+>", "", re.sub(r"<pre\b.*?</pre>", "", html, flags=re.S)))


@pytest.mark.parametrize("lab", LABS, **BY_LAB)
def test_emphasis_renders_in_both_languages(lab):
    """CommonMark closes ** only where its flanking rules allow: `**정상(Healthy)**이` stays literal."""
    for lang in LANGS:
        page = render_guide(lab, lang, "html", sample_values("embedded"))
        left = [line for line in prose(page).splitlines() if "**" in line]
        assert left == [], f"lab {lab.id} {lang}: literal ** in {left}"


# Draws Hangul and a code point no font has (U+0378) in the guide's own font stack: without a
# Korean font every one of them is the same missing-glyph box.
FONT_PROBE = """<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"><style>body {{ font-family: {fonts}; }}</style>
</head><body><pre id="probe"></pre><script>
const canvas = document.createElement("canvas"); canvas.width = canvas.height = 64;
const ctx = canvas.getContext("2d", {{willReadFrequently: true}});
ctx.font = "48px " + getComputedStyle(document.body).fontFamily;
const drawn = ch => {{ ctx.clearRect(0, 0, 64, 64); ctx.fillText(ch, 4, 52);
                       return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(","); }};
const missing = drawn("\u0378"), han = drawn("한"), geul = drawn("글");
document.getElementById("probe").textContent = JSON.stringify(
  {{hangul_drawn: han !== missing && geul !== missing && han !== geul, ink: han !== drawn(" ")}});
</script></body></html>"""


def test_a_korean_guide_draws_hangul_in_a_browser(settings, tmp_path):
    browser = chromium()
    guide_page = render_guide(get_lab("1"), "ko", "html", learner_values(settings, get_lab("1"))[0])
    fonts = re.search(r"body \{ font-family: ([^;]+);", guide_page).group(1)
    page = tmp_path / "probe.html"
    page.write_text(FONT_PROBE.format(fonts=fonts), encoding="utf-8")
    shown = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    assert shown.returncode == 0, shown.stderr[-2000:]
    probe = json.loads(unescape(re.search(r'<pre id="probe">(.*?)</pre>', shown.stdout, re.S).group(1)))
    assert probe == {"hangul_drawn": True, "ink": True}, \
        "Hangul is drawn as missing-glyph boxes: install a Korean font (Debian fonts-nanum or fonts-noto-cjk)"


# --- `invoke lab.guide` -------------------------------------------------------------------------

def test_invoke_guide_in_korean(settings):
    out = run_invoke("lab.guide", "1", "--lang", "ko", env=sandbox_env(settings))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# 실습 1: AWS IAM 소개")
    assert "## 1.4단계: 각 사용자의 권한 확인, user-3으로 인스턴스 중지 (4점)" in out.stdout
    assert f"계정 {settings.sandbox_account}" in out.stdout and out.stderr == ""


def test_invoke_guide_writes_html(settings, tmp_path):
    page = tmp_path / "lab2.html"
    out = run_invoke("lab.guide", "2", "--format", "html", "--out", str(page), env=sandbox_env(settings))
    assert out.returncode == 0, out.stderr
    assert f"written to {page}" in out.stdout
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<html lang="en">' in html and 'id="step-2-7"' in html


def test_invoke_guide_for_aws_without_credentials_says_so_and_shows_placeholders(tmp_path):
    out = run_invoke("lab.guide", "1", "--target", "aws", env={
        "HOME": str(tmp_path), "BOOTCAMP_HOME": str(tmp_path / "bootcamp"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-keys")})
    assert out.returncode == 0, out.stderr
    assert UNKNOWN_ACCOUNT in out.stdout
    [note] = out.stderr.strip().splitlines()
    assert note.startswith("note:") and "credentials" in note


@pytest.mark.parametrize("args, says", [
    (("9",), "unknown lab '9'"),
    (("1", "--lang", "fr"), "unknown language 'fr'"),
    (("1", "--format", "pdf"), "unknown format 'pdf'"),
])
def test_invoke_guide_refuses_bad_input_in_one_line(settings, args, says):
    out = run_invoke("lab.guide", *args, env=sandbox_env(settings))
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert says in line
