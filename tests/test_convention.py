"""Every lab has the same skeleton, and the same step ids in metadata, graders and hints."""

import ast

import pytest

from bootcamp.labmodel import LABS_DIR, all_labs

LABS = list(all_labs().values())


def test_every_lab_folder_is_loaded():
    assert {p.parent.name for p in LABS_DIR.glob("*/lab.toml")} == {lab.folder.name for lab in LABS}
    assert [lab.id for lab in LABS] == [str(n) for n in range(1, len(LABS) + 1)]


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: f"lab{lab.id}")
def test_lab_folder_skeleton(lab):
    assert lab.folder.name == f"lab{lab.id}"
    for name in ("start", "solve", "clean", "leftovers"):
        assert callable(getattr(lab.provision, name)), f"provision.{name} missing"
    assert callable(lab.collect.collect)
    assert lab.grader_file.exists()


def grader_steps(lab) -> dict[str, str]:
    tree = ast.parse(lab.grader_file.read_text())
    steps = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            marks = [d for d in node.decorator_list if isinstance(d, ast.Call)
                     and ast.unparse(d.func) == "pytest.mark.step"]
            assert len(marks) == 1, f"{node.name} needs exactly one @pytest.mark.step"
            steps[marks[0].args[0].value] = node.name
    return steps


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: f"lab{lab.id}")
def test_every_step_has_one_grader_and_every_grader_a_step(lab):
    graded = grader_steps(lab)
    assert sorted(graded) == sorted(s.id for s in lab.steps)
    assert len(set(graded.values())) == len(graded)


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: f"lab{lab.id}")
def test_every_step_has_text_in_both_languages(lab):
    for step in lab.steps:
        assert step.id.startswith(f"{lab.id}.")
        assert step.points > 0
        for text in (step.title, step.hint, *step.messages.values()):
            assert set(text.by_lang) == {"en", "ko"}, f"step {step.id}: {text.by_lang}"
            assert all(v.strip() for v in text.by_lang.values())
        assert len(step.hint("en")) <= 300, f"step {step.id}: a hint is one actionable sentence"


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: f"lab{lab.id}")
def test_every_failure_key_a_grader_uses_has_text(lab):
    """fail("key"), problems.add("key"), note("key") and ("key", facts) tuples all need a message in lab.toml."""
    keys = set()
    for node in ast.walk(ast.parse(lab.grader_file.read_text())):
        if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in ("fail", "add", "note") and node.args:
            first = node.args[0]
        elif isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[1], ast.Dict):
            first = node.elts[0]
        else:
            continue
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            keys.add(first.value)
    known = {key for step in lab.steps for key in step.messages}
    assert keys and keys <= known, keys - known


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: f"lab{lab.id}")
def test_graders_never_call_aws(lab):
    source = lab.grader_file.read_text()
    for word in ("boto3", "botocore", ".client(", "Reader"):
        assert word not in source, f"{lab.grader_file.name} mentions {word}: checks only read the inventory"
