"""Class grading under faults: each learner's account is throttled on its own, as on AWS, and
spends its own retry budget; one learner's trouble is nobody else's."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from bootcamp.classroom import roster, run
from bootcamp.classroom.access import Access
from bootcamp.labmodel import get_lab
from bootcamp.sandbox import control
from bootcamp.targets import make_target

LAB2 = {"2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"}


@pytest.fixture
def accounts(settings):
    """Four fresh accounts of this test (the fixture's account and three beside it); faults cleared after."""
    base = settings.sandbox_account
    made = [base[:4] + str(n) + base[5:] for n in (6, 7, 8)] + [base]
    yield made
    for account in made:
        control.inject_faults(settings, 0, account=account)


def learners(accounts: list[str]) -> roster.Roster:
    rows = "".join(f"l{n},{account}\n" for n, account in enumerate(accounts))
    return roster.parse("learner_id,sandbox_account\n" + rows)


def test_one_learners_throttled_account_costs_nobody_else_a_grade(settings, accounts):
    throttled = accounts[0]
    control.inject_faults(settings, 20, account=throttled)
    quick = settings.but(retry_backoff=0)  # botocore's back-off, without the waits
    graded = run.grade_class(get_lab("2"), learners(accounts), make_target(quick), workers=2)
    by_account = {g.learner.sandbox_account: g for g in graded.grades}
    for account in accounts[1:]:  # untouched accounts: every step a FAIL with its hint, no ERROR
        assert {s.id for s in by_account[account].result.steps if s.status == "FAIL"} == LAB2, account
    mine = by_account[throttled]
    if mine.error:  # more throttles in a row than the standard retries: the reason, in one line
        assert "throttling" in mine.error and "after the standard retries" in mine.error
        assert {s.status for s in mine.result.steps} == {"ERROR"}
    else:
        assert {s.id for s in mine.result.steps if s.status == "FAIL"} == LAB2


def test_each_learner_has_a_retry_budget_of_their_own(settings, accounts):
    """A learner whose every call is throttled spends their retry quota; the next learner's
    one throttled call is still retried."""
    exhausted, fine = accounts[0], accounts[1]
    access = Access(make_target(settings.but(retry_backoff=0)))
    first, second = (access.reach(x) for x in learners([exhausted, fine]).learners)
    control.inject_faults(settings, 1000, account=exhausted)
    token = first.activate()
    try:
        for _ in range(30):  # 5 retries a call, 5 of botocore's 500 quota units a retry: spent in 20
            with pytest.raises(ClientError, match="Throttling"):
                first.client("sts").get_caller_identity()
    finally:
        first.deactivate(token)
    control.inject_faults(settings, 0, account=exhausted)
    control.inject_faults(settings, 2, account=fine)
    token = second.activate()
    try:
        assert second.client("sts").get_caller_identity()["Account"] == fine
    finally:
        second.deactivate(token)
