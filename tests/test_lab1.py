"""Lab 1 on the sandbox: every step fails fresh, passes solved, and each realistic mistake fails exactly its step."""

import json

import pytest

from bootcamp.errors import BootcampError
from bootcamp.results import FAIL, PASS
from bootcamp.state import one_at_a_time

ALL = {"1.1", "1.2", "1.3", "1.4"}


def test_fresh_start_fails_every_step_with_a_hint(lab1):
    lab1.run("start")
    result = lab1.grade()
    assert [s.status for s in result.steps] == [FAIL] * 4
    assert all(s.hint and s.message for s in result.steps)
    by_id = {s.id: s for s in result.steps}
    assert "user-1 is not in S3-Support" in by_id["1.1"].message
    assert "add-user-to-group --user-name user-1 --group-name S3-Support" in by_id["1.1"].hint
    assert "running, not stopped" in by_id["1.4"].message
    assert result.score == 0 and result.max_score == 10


def test_solve_passes_every_step(lab1):
    lab1.run("start")
    lab1.run("solve")
    result = lab1.grade()
    assert {s.id: s.status for s in result.steps} == dict.fromkeys(ALL, PASS)
    assert result.score == result.max_score == 10
    assert result.passed


def test_korean_hints(lab1):
    lab1.run("start")
    by_id = {s.id: s for s in lab1.grade(lang="ko").steps}
    assert by_id["1.1"].title == "user-1을 S3-Support 그룹에 추가"
    assert "그룹에 속해 있지 않습니다" in by_id["1.1"].message
    assert "사용자 그룹" in by_id["1.1"].hint


def move(iam, user, old, new):
    iam.remove_user_from_group(UserName=user, GroupName=old)
    iam.add_user_to_group(UserName=user, GroupName=new)


def start_instance_again(lab):
    ec2 = lab.client("ec2")
    ids = [i["id"] for i in lab.lab.collect.lab_instances(ec2)]
    ec2.start_instances(InstanceIds=ids)


MISTAKES = {
    # mistake: (what the learner did wrong after an otherwise right solution, the step that must fail)
    "user-1 put in EC2-Support instead": (lambda lab: move(lab.client("iam"), "user-1", "S3-Support", "EC2-Support"), "1.1"),
    "user-1 also in EC2-Support": (lambda lab: lab.client("iam").add_user_to_group(UserName="user-1", GroupName="EC2-Support"), "1.1"),
    "user-2 put in EC2-Admin instead": (lambda lab: move(lab.client("iam"), "user-2", "EC2-Support", "EC2-Admin"), "1.2"),
    "user-3 left out of EC2-Admin": (lambda lab: lab.client("iam").remove_user_from_group(UserName="user-3", GroupName="EC2-Admin"), "1.3"),
    "user-3 put in EC2-Support": (lambda lab: move(lab.client("iam"), "user-3", "EC2-Admin", "EC2-Support"), "1.3"),
    "EC2-Admin-Policy missing StopInstances": (lambda lab: lab.client("iam").put_group_policy(
        GroupName="EC2-Admin", PolicyName="EC2-Admin-Policy", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:StartInstances"], "Resource": "*"}]})), "1.4"),
    "user-1 given EC2 read access directly": (lambda lab: lab.client("iam").attach_user_policy(
        UserName="user-1", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"), "1.4"),
    "user-2 given stop rights inline": (lambda lab: lab.client("iam").put_user_policy(
        UserName="user-2", PolicyName="oops", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:StopInstances", "Resource": "*"}]})), "1.4"),
    "S3-Support lost its managed policy": (lambda lab: lab.client("iam").detach_group_policy(
        GroupName="S3-Support", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"), "1.4"),
    "instance left running": (start_instance_again, "1.4"),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_realistic_mistake_fails_exactly_its_step(lab1, mistake):
    make_mistake, step = MISTAKES[mistake]
    lab1.run("start")
    lab1.run("solve")
    make_mistake(lab1)
    assert lab1.failing() == {step}


def test_mistake_messages_name_the_user_and_the_fix(lab1):
    lab1.run("start")
    lab1.run("solve")
    MISTAKES["EC2-Admin-Policy missing StopInstances"][0](lab1)
    step = {s.id: s for s in lab1.grade().steps}["1.4"]
    assert step.message == "user-3 is denied ec2:StopInstances, which the lab expects to be allowed."
    assert "EC2-Admin-Policy" in step.hint


def test_learner_groups_outside_the_lab_do_not_count_against_membership(lab1):
    lab1.run("start")
    lab1.run("solve")
    iam = lab1.client("iam")
    iam.create_group(GroupName="Bootcamp-Learners")
    iam.add_user_to_group(UserName="user-1", GroupName="Bootcamp-Learners")
    assert lab1.failing() == set()


def test_start_twice_creates_no_duplicates(lab1):
    lab1.run("start")
    lab1.run("start")
    ec2, iam = lab1.client("ec2"), lab1.client("iam")
    assert len(lab1.lab.collect.lab_instances(ec2)) == 1
    assert sorted(u["UserName"] for u in iam.list_users()["Users"]) == ["user-1", "user-2", "user-3"]
    assert len(iam.list_groups()["Groups"]) == 3
    assert len([b for b in lab1.client("s3").list_buckets()["Buckets"] if "s3bucket" in b["Name"]]) == 1
    for user in ("user-1", "user-2", "user-3"):
        assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 1


def test_start_finishes_an_interrupted_start(lab1):
    ctx = lab1.run("start")
    iam, s3 = lab1.client("iam"), lab1.client("s3")
    # as if start had stopped half-way: the last user, the instance and the bucket never made
    for key in iam.list_access_keys(UserName="user-3")["AccessKeyMetadata"]:
        iam.delete_access_key(UserName="user-3", AccessKeyId=key["AccessKeyId"])
    iam.delete_login_profile(UserName="user-3")
    iam.delete_user(UserName="user-3")
    lab1.client("ec2").terminate_instances(InstanceIds=[i["id"] for i in lab1.lab.collect.lab_instances(lab1.client("ec2"))])
    s3.delete_bucket(Bucket=lab1.lab.provision.bucket_name(ctx))
    lab1.run("start")
    assert lab1.failing() == ALL  # all there again, none done
    lab1.run("solve")
    assert lab1.failing() == set()


def test_start_keeps_the_learners_progress(lab1):
    lab1.run("start")
    lab1.run("solve")
    lab1.run("start")
    assert lab1.failing() == set()


def test_start_refuses_a_user_it_did_not_make(lab1):
    lab1.client("iam").create_user(UserName="user-2")
    with pytest.raises(BootcampError, match="IAM user user-2 already exists .* was not made by lab 1"):
        lab1.run("start")


def test_clean_removes_everything_the_lab_tagged_and_nothing_else(lab1):
    iam, s3 = lab1.client("iam"), lab1.client("s3")
    iam.create_user(UserName="alice")
    s3.create_bucket(Bucket="learners-own-s3bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    lab1.run("start")
    lab1.run("solve")
    lab1.run("clean")
    ctx = lab1.run("clean")  # a second clean finds nothing more to do
    assert ctx.done == []
    assert lab1.lab.provision.leftovers(ctx) == []
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["alice"]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["learners-own-s3bucket"]
    assert iam.list_groups()["Groups"] == []
    assert lab1.lab.collect.lab_instances(lab1.client("ec2")) == []


def test_solve_stops_the_instance_as_user_3(lab1):
    lab1.run("start")
    lab1.run("solve")
    assert any(line.endswith("stopped as user-3") for line in lab1.log)


def test_a_start_that_fails_or_lost_the_passwords_leaves_none_unknown(lab1):
    iam, state = lab1.client("iam"), lab1.context().state
    blocked = state.path.with_suffix(".tmp")  # the state cannot be written (as in an unwritable home)
    blocked.mkdir(parents=True)
    with pytest.raises(OSError):
        lab1.run("start")
    assert [u for u in ("user-1", "user-2", "user-3") if profile_of(iam, u)] == []  # no password made unsaved
    blocked.rmdir()
    lab1.run("start")
    assert sorted(state.load()["passwords"]) == ["user-1", "user-2", "user-3"]

    state.update(passwords={})  # as a start of an older version, stopped after making the passwords, left it
    lab1.run("start")
    assert sorted(state.load()["passwords"]) == ["user-1", "user-2", "user-3"]
    assert "  new console password for user-1 (the one it had was not saved)" in lab1.log


def profile_of(iam, user):
    try:
        return iam.get_login_profile(UserName=user)["LoginProfile"]
    except iam.exceptions.NoSuchEntityException:
        return None


def test_a_lab_action_while_another_runs_in_the_account_is_refused_in_one_line(lab1):
    with one_at_a_time(lab1.settings.home, "embedded", lab1.target.account_id, "`invoke lab.start 1`"):
        with pytest.raises(BootcampError) as refused:
            lab1.run("start")
    said = str(refused.value)
    assert "\n" not in said and said.startswith("`invoke lab.start 1` (pid ") and "wait until it ends" in said
    assert lab1.client("iam").list_users()["Users"] == [] and lab1.log == []
    lab1.run("start")  # the first one ended: this one runs
    assert len(lab1.client("iam").list_users()["Users"]) == 3
