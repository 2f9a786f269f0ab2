"""The verification budget, a node's reputation, and the hidden checks' pool."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from infernet.controlplane.store.verifications import Check
from infernet.controlplane.verification.budget import Budget
from infernet.controlplane.verification.pool import draw
from infernet.controlplane.verification.reputation import PENALTY_S, Reputation


def test_checks_spend_about_their_share_of_what_was_served_and_never_more() -> None:
    budget = Budget(0.05, random.Random(3))
    checked = 0
    for _ in range(20_000):
        if budget.served_job(100.0):
            budget.spend(30.0, 100.0)  # a check costs 30 % of its job
            checked += 1
        assert budget.spent <= budget.share * budget.served + 30.0
    assert 0.04 <= budget.spent / budget.served <= 0.05
    assert checked > 0.1 * 20_000 * 0.8  # about share / ratio of the jobs, at random


def _check(passed: bool, detail: str = "") -> Check:
    at = datetime(2026, 12, 3, tzinfo=UTC)
    return Check(
        "nd_1", "job_1", "spot", "m", passed, "" if passed else "greedy_token", detail, at=at
    )


def test_reputation_is_a_smoothed_pass_rate_with_a_coarse_grade() -> None:
    assert Reputation.of([]).grade == "new"
    clean = Reputation.of([_check(True)] * 20)
    assert clean.grade == "A" and clean.penalty_s == 0 and not clean.offence
    once = Reputation.of([_check(False, "token 3 is 'x'")] + [_check(True)] * 19)
    assert once.grade == "A" and once.penalty_s == PENALTY_S and not once.offence
    assert "19 of 20 verifications passed" in once.explain()
    assert "greedy_token: token 3 is 'x'" in once.explain()
    cheat = Reputation.of([_check(False)] * 3 + [_check(True)] * 2)
    assert cheat.grade == "C" and cheat.offence and cheat.penalty_s == 3 * PENALTY_S


def test_the_pool_draws_varied_requests_that_rarely_repeat() -> None:
    rng = random.Random(11)
    drawn = [draw(rng) for _ in range(500)]
    texts = {" ".join(m.content for m in d.messages) for d in drawn}
    assert len(texts) > 480
    assert {d.temperature == 0 for d in drawn} == {True, False}
    assert min(d.max_tokens for d in drawn) < 32 < 128 < max(d.max_tokens for d in drawn)
    assert any(m.role == "system" for d in drawn for m in d.messages)
