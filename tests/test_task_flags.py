"""The tasks' command line: a short flag means one option in every task; --help shows today's defaults."""

from __future__ import annotations

from collections import defaultdict

from conftest import run_invoke


def test_a_short_flag_means_one_option_in_every_task():
    from tasks import namespace

    meanings = defaultdict(set)
    for name in namespace.task_names:
        for argument in namespace[name].get_arguments():
            for letter in (n for n in argument.names if len(n) == 1):
                meanings[letter].add(argument.name)
    assert meanings and {letter: names for letter, names in meanings.items() if len(names) > 1} == {}
    assert meanings["o"] == {"out"} and meanings["r"] == {"region"} and meanings["p"] == {"port"}


def test_help_shows_the_default_the_environment_sets():
    env = {"BOOTCAMP_SANDBOX_PORT": "4711", "BOOTCAMP_REGION": "eu-central-1", "BOOTCAMP_LANG": "ko",
           "BOOTCAMP_APP_PORT": "8181"}
    for task, says in [("sandbox.up", ["(default 4711)"]), ("lab.grade", ["(default 4711)", "(default eu-central-1)"]),
                       ("lab.guide", ["(default ko)"]), ("app.run", ["(default 8181)"]),
                       ("sandbox.env", ["(default eu-central-1)"])]:
        shown = run_invoke("--help", task, env=env)
        assert shown.returncode == 0 and all(s in " ".join(shown.stdout.split()) for s in says), (task, shown.stdout)
        assert "4599" not in shown.stdout
