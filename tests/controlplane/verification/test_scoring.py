"""The tests of one answer: greedy answers exactly, sampled ones by distribution, usage
by recount. Each case is a position as a trusted engine describes it."""

from __future__ import annotations

import math
import random

from infernet.controlplane.verification.scoring import (
    Candidate,
    Position,
    Usage,
    answer_findings,
    greedy_position,
    surprise_z,
    usage_findings,
)

ENDS = frozenset({"<|im_end|>"})
TOP = (Candidate(1, " Paris", -0.1), Candidate(2, " Lyon", -2.5), Candidate(3, " the", -3.0))


def at(emitted: Candidate | None, rest: str = "", top: tuple[Candidate, ...] = TOP) -> Position:
    return Position(5, emitted, rest, top, ENDS)


def test_a_greedy_token_must_be_the_models_first_choice_or_a_near_tie() -> None:
    assert greedy_position(at(Candidate(1, " Paris", 0))) is None
    near = (Candidate(1, " Paris", -0.6), Candidate(2, " Lyon", -0.9))
    assert greedy_position(at(Candidate(2, " Lyon", 0), top=near)) is None
    found = greedy_position(at(Candidate(2, " Lyon", 0)))
    assert found is not None and found.check == "greedy_token"
    assert "' Lyon'" in found.detail and "' Paris'" in found.detail


def test_a_token_outside_the_top_list_fails_greedy() -> None:
    found = greedy_position(at(Candidate(99, " Berlin", 0)))
    assert found is not None and "below the top 3" in found.detail


def test_text_that_goes_on_with_the_first_choice_passes_whatever_its_tokens() -> None:
    # " Par" + "is" re-tokenized from " Paris": the text is what the model would write.
    assert greedy_position(at(Candidate(7, " Par", 0), rest=" Paris is big")) is None


def test_a_greedy_answer_must_end_where_the_model_ends() -> None:
    ending = (Candidate(9, "<|im_end|>", -0.05), Candidate(1, " Paris", -3.0))
    assert greedy_position(at(None, top=ending)) is None
    cut = greedy_position(at(None))
    assert cut is not None and cut.check == "answer_end"


def _sampled(rng: random.Random, honest: bool, n: int = 8) -> list[Position]:
    top = tuple(Candidate(i, f"t{i}", math.log(p)) for i, p in enumerate((0.6, 0.25, 0.1, 0.05)))
    positions = []
    for index in range(n):
        weights = [0.6, 0.25, 0.1, 0.05] if honest else [0.05, 0.1, 0.25, 0.6]
        token = rng.choices(range(4), weights)[0]
        positions.append(Position(index, top[token], "", top, ENDS))
    return positions


def test_honestly_sampled_tokens_pass_and_unlikely_ones_fail_by_distribution() -> None:
    rng = random.Random(7)
    honest = [surprise_z(_sampled(rng, True), 1.0) for _ in range(200)]
    assert max(honest) < 4.0
    assert not answer_findings(_sampled(rng, True), 1.0)
    failed = answer_findings(_sampled(rng, False, 16), 1.0)
    assert [f.check for f in failed] == ["sample_distribution"]


def test_a_sampled_answer_may_end_where_ending_is_plausible_but_not_where_it_is_not() -> None:
    plausible = (Candidate(1, " Paris", -0.5), Candidate(9, "<|im_end|>", -1.5))
    assert not answer_findings([at(None, top=plausible)], 0.7)
    found = answer_findings([at(None)], 0.7)
    assert [f.check for f in found] == ["answer_end"]


def test_usage_within_a_token_or_two_of_the_recount_is_honest_and_more_is_flagged() -> None:
    recount = Usage(37, 100)
    assert not usage_findings(Usage(38, 102), recount, "stop", 256)
    found = usage_findings(Usage(60, 130), recount, "stop", 256)
    assert [f.check for f in found] == ["usage_prompt", "usage_completion"]


def test_an_answer_said_to_reach_max_tokens_must_hold_them() -> None:
    assert not usage_findings(Usage(37, 64), Usage(37, 63), "length", 64)
    found = usage_findings(Usage(37, 64), Usage(37, 20), "length", 64)
    assert [f.check for f in found] == ["usage_completion", "finish_length"]


def test_a_sampled_answer_split_into_other_tokens_is_judged_by_its_text() -> None:
    # The engine wrote " a" + "va"; the answer re-tokenized reads " av" + "a", a token
    # the model finds unlikely: the text is what counts.
    top = (Candidate(1, " a", -1.8), Candidate(2, " I", -2.4), Candidate(3, " the", -2.4))
    odd = Position(3, Candidate(9, " av", 0), " ava, ava,", top, ENDS)
    assert surprise_z([odd] * 8, 0.42) < 1.0
    likely = (Candidate(2, " I", -0.1), Candidate(3, " the", -3.0), Candidate(4, " a", -3.5))
    other = Position(3, Candidate(9, " av", 0), " avocado", likely, ENDS)
    assert surprise_z([other] * 8, 0.42) > 4.0
