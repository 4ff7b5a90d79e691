"""No secret in what the project writes: class files, snapshots, grades, the sandbox log, the state folder."""

from __future__ import annotations

import json
import stat
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config

from bootcamp.redact import REDACTED, redact
from bootcamp.sandbox import control
from bootcamp.state import LabState
from conftest import an_image, run_invoke, sandbox_env

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FQoGZXIvYXdzEBYaDH" + "q8Rz3xWv5Yt2Lm9Kp4Nc7Bd" * 8
DB_PASSWORD = "Hunter2-correct-horse"
SECRETS = (KEY_ID, SECRET_KEY, SESSION_TOKEN, DB_PASSWORD)

USER_DATA = f"""#!/bin/bash
export DB_PASSWORD={DB_PASSWORD}
export AWS_ACCESS_KEY_ID={KEY_ID}
aws_secret = "{SECRET_KEY}"
curl -H 'x-token-header: x' https://example.com/?t={SESSION_TOKEN}
"""


def leaked(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def instance_with_secrets(settings) -> None:
    """A learner's instance whose user data holds a password, a key pair and a session token."""
    ec2 = boto3.client("ec2", endpoint_url=control.endpoint(settings), region_name="us-west-2",
                       aws_access_key_id=settings.sandbox_account, aws_secret_access_key=control.SECRET)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    ec2.run_instances(ImageId=an_image(ec2)["ImageId"], InstanceType="t3.micro", MinCount=1, MaxCount=1,
                      SubnetId=subnet, UserData=USER_DATA)


def test_a_key_in_a_roster_and_secrets_in_the_evidence_are_never_written(settings, tmp_path):
    instance_with_secrets(settings)
    roster = tmp_path / "class.csv"
    roster.write_text("learner_id,name,sandbox_account\n"
                      f"kim,Kim,{settings.sandbox_account}\n"
                      f"{KEY_ID},Leaky,{settings.sandbox_account}\n"
                      f"{SECRET_KEY},Leakier,{settings.sandbox_account}\n")
    out = tmp_path / "out"
    done = run_invoke("class.grade", "--roster", str(roster), "--lab", "2", "--out", str(out),
                      env=sandbox_env(settings))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "roster line 3: column learner_id holds what looks like an AWS key" in done.stderr
    assert "roster line 4: column learner_id" in done.stderr
    written = {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}
    assert {"class.json", "report.html", "summary.md", "learners/kim/snapshot.json"} <= set(written)
    assert not leaked(done.stdout + done.stderr)
    assert {name: leaked(text) for name, text in written.items() if leaked(text)} == {}
    snapshot = json.loads(written["learners/kim/snapshot.json"])
    [script] = [i["user_data"] for i in snapshot["data"]["instances"] if i["user_data"]]
    assert f"DB_PASSWORD={REDACTED}" in script and "curl -H" in script  # the rest of the script is kept


def test_a_lab_snapshot_and_grade_redact_secrets(settings, tmp_path):
    instance_with_secrets(settings)
    env = sandbox_env(settings)
    done = run_invoke("lab.grade", "2", "--snapshot", str(tmp_path / "snap.json"), "--json",
                      str(tmp_path / "grade.json"), "--junit", str(tmp_path / "grade.xml"), env=env)
    assert done.returncode == 1, done.stderr
    assert "DB_PASSWORD" in (tmp_path / "snap.json").read_text()
    assert not leaked("".join(p.read_text() for p in tmp_path.iterdir()) + done.stdout + done.stderr)


def test_redaction_keeps_what_is_not_secret():
    app_archive = "\n".join(["A" * 76] * 3 + ["B" * 40])  # a wrapped base64 block, last line of 40
    evidence = {"tokens": "optional", "SessionToken": "x", "script": f"{app_archive}\nHttpTokens=optional\n",
                "password": "", "keys": [{"SecretAccessKey": "abc", "id": KEY_ID}]}
    assert redact(evidence) == {"tokens": "optional", "SessionToken": REDACTED, "password": "",
                                "script": f"{app_archive}\nHttpTokens=optional\n",
                                "keys": [{"SecretAccessKey": REDACTED, "id": REDACTED}]}
    assert redact(f"x {SECRET_KEY} y MY_API_TOKEN='{DB_PASSWORD}' z") == f"x {REDACTED} y MY_API_TOKEN={REDACTED} z"


def test_redaction_skips_only_rules_that_cannot_match():
    """Each rule is tried only where it could match, and a long string is redacted once while it recurs:
    the text is what every rule tried in turn makes of it, the case-folded spellings of a name included."""
    from bootcamp.redact import ASSIGNMENT, TEXT_RULES, redact_text

    def every_rule(text):
        text = ASSIGNMENT.sub(lambda m: m.group(1) + (REDACTED if m.group(2) != REDACTED else m.group(2)), text)
        for rule in TEXT_RULES:
            text = rule.sub(REDACTED, text)
        return text

    texts = [USER_DATA, KEY_ID, SECRET_KEY, SESSION_TOKEN, "short", "", "x=1", "MY_\u017fECRET=abc",
             "api_To\u212aen: abc", "PaSsWoRd = 'quoted'", "ASIA" + "A1" * 8, "a " * 200 + SECRET_KEY,
             "%2F" * 70, "A" * 300, USER_DATA * 3, "\n".join(["A" * 76] * 4 + ["B" * 40]), f"k={KEY_ID}" * 30]
    for text in texts + texts:  # the second time, the long ones come from the memo
        assert redact_text(text) == every_rule(text), text[:60]
    assert redact_text("MY_\u017fECRET=abc") == f"MY_\u017fECRET={REDACTED}"


def test_the_sandbox_log_holds_no_credentials_and_only_its_owner_reads_it(sandbox):
    s3 = boto3.client("s3", endpoint_url=control.endpoint(sandbox), region_name="us-west-2",
                      aws_access_key_id=sandbox.sandbox_account, aws_secret_access_key=control.SECRET,
                      aws_session_token=SESSION_TOKEN, config=Config(signature_version="s3v4"))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "no-such-bucket-log-check", "Key": "k"})
    signature = url.split("X-Amz-Signature=")[1].split("&")[0]
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except OSError:
        pass  # NoSuchBucket: only the request line matters
    log = sandbox.home / "sandbox" / f"{sandbox.sandbox_port}.log"
    deadline = time.monotonic() + 10
    while "no-such-bucket-log-check" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = [x for x in log.read_text().splitlines() if "no-such-bucket-log-check" in x]
    assert "X-Amz-Security-Token=" in line and "X-Amz-Signature=" in line  # the names stay, the values go
    assert signature not in line and "FQoGZXIvYXdz" not in line and sandbox.sandbox_account not in line
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_the_state_folder_is_the_users_alone(tmp_path):
    (tmp_path / "state").mkdir(mode=0o755)  # as an earlier version left it
    state = LabState(tmp_path, "embedded", "123456789012", "1")
    state.save({"passwords": {}})
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "state", state.path.parent, state.path)}
    assert modes == {tmp_path / "state": 0o700, state.path.parent: 0o700, state.path: 0o600}


@pytest.mark.parametrize("learner_id", [KEY_ID, SECRET_KEY, f"{KEY_ID}-x"])
def test_a_roster_never_repeats_a_key_in_its_learner_id(learner_id):
    from bootcamp.classroom import roster

    parsed = roster.parse(f"learner_id,sandbox_account\n{learner_id},123456789012\n")
    [problem] = parsed.problems
    assert problem.learner == "" and learner_id not in str(problem) and "line 2" in str(problem)
