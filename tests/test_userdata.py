"""The EC2 user data: under EC2's limit, valid bash (bash -n, shellcheck), carrying the project's app byte for byte."""

import os
import shutil
import subprocess

import pytest

from bootcamp import userdata
from bootcamp.errors import BootcampError


@pytest.fixture(scope="module")
def script() -> str:
    return userdata.render("us-west-2", "employee-photo-bucket-ab-1234")


def test_fits_in_ec2s_user_data_limit(script):
    assert len(script.encode()) <= 16 * 1024


def test_bash_parses_it(script, tmp_path):
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_shellcheck_passes(script, tmp_path):
    if not shutil.which("shellcheck"):
        if os.environ.get("CI"):
            pytest.fail("shellcheck is missing: .ci/run installs Debian's shellcheck package")
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    checked = subprocess.run(["shellcheck", "--shell=bash", "--severity=style", str(path)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_the_app_it_unpacks_is_byte_identical_to_the_projects(script, tmp_path):
    (tmp_path / "app").mkdir()
    archive = script.split("<<'ARCHIVE'\n", 1)[1].split("\nARCHIVE\n", 1)[0]
    packed = subprocess.run(["base64", "-d"], input=archive.encode(), capture_output=True, check=True).stdout
    (tmp_path / "app.tar.gz").write_bytes(packed)
    subprocess.run(["tar", "-xzf", str(tmp_path / "app.tar.gz"), "-C", str(tmp_path / "app")], check=True)
    unpacked = {str(p.relative_to(tmp_path / "app")): p.read_bytes()
                for p in (tmp_path / "app").rglob("*") if p.is_file()}
    assert unpacked == userdata.app_files()
    assert "employee_directory/__main__.py" in unpacked


def test_bucket_region_and_port_are_filled_in(script):
    facts = userdata.inspect(script)
    assert facts.installs_app and facts.problem == ""
    assert facts.bucket == "employee-photo-bucket-ab-1234"
    assert facts.region == "us-west-2"
    assert facts.port == 80
    assert "--port 80" in script and "systemctl enable --now employee-directory.service" in script


def test_renders_the_same_bytes_every_time():
    assert userdata.render("eu-west-1") == userdata.render("eu-west-1")


def test_without_a_bucket_the_app_is_told_none():
    assert userdata.inspect(userdata.render("us-east-1")).bucket == ""


@pytest.mark.parametrize("region, bucket", [("us-west-2", "Bad_Bucket"), ("us-west-2", "x; rm -rf /"),
                                            ("us west 2", ""), ("us-west-2\nEnvironment=X=1", "")])
def test_values_that_could_break_the_script_are_refused(region, bucket):
    with pytest.raises(BootcampError):
        userdata.render(region, bucket)


@pytest.mark.parametrize("text, problem", [
    (None, "empty"), ("", "empty"), ("#!/bin/bash\ndnf install -y httpd\n", "not the project's user data"),
    (f"#!/bin/bash\n{userdata.MARKER}\necho hi\n", "its app archive is missing"),
    (f"#!/bin/bash\n{userdata.MARKER}\nbase64 -d <<'ARCHIVE'\nnot*base64\nARCHIVE\n", "its app archive is damaged"),
])
def test_inspect_says_what_is_wrong(text, problem):
    facts = userdata.inspect(text)
    assert not facts.installs_app and facts.problem == problem


def test_an_edited_archive_is_noticed(script):
    lines = script.splitlines(keepends=True)
    start = lines.index("base64 -d > \"$app_dir/app.tar.gz\" <<'ARCHIVE'\n") + 1
    lines[start + 3] = "A" * (len(lines[start + 3]) - 1) + "\n"
    assert userdata.inspect("".join(lines)).problem == "its app archive is damaged"


def test_invoke_app_userdata_writes_the_script_or_refuses_in_one_line(tmp_path):
    from conftest import run_invoke

    out = tmp_path / "user-data.sh"
    done = run_invoke("app.userdata", "--region", "eu-west-1", "--bucket", "employee-photo-bucket-ab-1234",
                      "--out", str(out))
    assert done.returncode == 0, done.stderr
    facts = userdata.inspect(out.read_text())
    assert facts.installs_app and facts.region == "eu-west-1" and facts.bucket == "employee-photo-bucket-ab-1234"
    refused = run_invoke("app.userdata", "--bucket", "Not_A_Bucket")
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("error: 'Not_A_Bucket' (--bucket) is not a valid S3 bucket name: ")
