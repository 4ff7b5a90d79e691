"""The user's commands end to end: `invoke lab.list`, `lab.verify`, and Korean output."""

import subprocess

from conftest import run_invoke, sandbox_env


def test_lab_list_shows_steps_points_and_targets(settings):
    out = run_invoke("lab.list", env=sandbox_env(settings))
    assert out.returncode == 0, out.stderr
    for text in ("Introduction to AWS IAM", "1.4", "max 10 points", "embedded: yes", "localstack: yes", "aws: yes"):
        assert text in out.stdout


def test_lab_verify_proves_lab_1_and_leaves_the_learners_account_alone(lab1):
    lab1.run("start")
    out = run_invoke("lab.verify", "1", env=sandbox_env(lab1.settings))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "lab 1 verified on embedded" in out.stdout
    assert lab1.settings.sandbox_account not in out.stdout.splitlines()[-1]
    assert lab1.failing() == {"1.1", "1.2", "1.3", "1.4"}  # the learner's lab is still there, untouched


def test_grade_in_korean(lab1):
    lab1.run("start")
    out = run_invoke("lab.grade", "1", "--lang", "ko", env=sandbox_env(lab1.settings))
    assert out.returncode == 1
    assert "AWS IAM 소개" in out.stdout and "사용자 그룹" in out.stdout


def test_lab_verify_proves_lab_2(settings):
    out = run_invoke("lab.verify", "2", env=sandbox_env(settings))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "lab 2 verified on embedded" in out.stdout


def test_lab_verify_proves_lab_5(settings):
    """Lab 4's world built for lab 5, graded, solved, graded again and cleaned: nothing tagged is left,
    the load balancer, the group and the distribution included."""
    out = run_invoke("lab.verify", "5", env=sandbox_env(settings), timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    assert "lab 5 verified on embedded" in out.stdout


def test_grade_lab_2_asks_the_app_and_lab_open_prints_where_it_answers(lab2):
    lab2.run("start")
    lab2.run("solve")
    out = run_invoke("lab.grade", "2", env=sandbox_env(lab2.settings))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Not checked" not in out.stdout
    assert "Score 14/14" in out.stdout
    opened = run_invoke("lab.open", "2", "--print", env=sandbox_env(lab2.settings))
    assert opened.returncode == 0, opened.stdout + opened.stderr
    [url] = opened.stdout.split()
    assert url.startswith("http://ec2-") and url.endswith(f".compute.localhost:{lab2.settings.sandbox_port}/")
    page = subprocess.run(["curl", "-sS", "-m", "15", url], capture_output=True, text=True, timeout=20)
    assert "Employee Directory" in page.stdout, page.stderr


def test_lab_open_without_an_instance_says_what_to_do(settings):
    out = run_invoke("lab.open", "2", "--print", env=sandbox_env(settings))
    assert out.returncode != 0
    assert "no running instance named Web Application" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr
