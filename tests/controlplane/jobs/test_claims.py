"""A node's claims about an attempt, checked against what the control plane can bound
(the behaviour end to end, with a rogue node: tests/security/test_rogue_node.py)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from infernet.controlplane.jobs.claims import (
    MALFORMED,
    AttemptBound,
    admit,
    check_usage,
    malformed_failure,
    node_failure,
)
from infernet.controlplane.money.bounds import MAX_TOKEN_CHARS, prompt_bound
from infernet.protocol.wire import (
    ChatMessageIn,
    JobAssignment,
    JobFailed,
    UsageReport,
    from_node_adapter,
)

MESSAGES = [
    ChatMessageIn(role="user", content="héllo"),
    ChatMessageIn(role="assistant", content="hi"),
]


def assignment(max_tokens: int = 4) -> JobAssignment:
    return JobAssignment(
        job_id="job_a", model="m", messages=MESSAGES, max_tokens=max_tokens, temperature=0, top_p=1
    )


def test_an_attempt_is_bounded_by_the_messages_it_sent_and_its_max_tokens() -> None:
    bound = AttemptBound.of(assignment(4))
    assert (
        bound.prompt_tokens
        == prompt_bound(MESSAGES, None)
        == len("héllo".encode()) + 2 + 2 * 16 + 64
    )
    assert (bound.completion_tokens, bound.chars) == (4, 4 * MAX_TOKEN_CHARS)


def test_a_claim_is_believed_up_to_the_bound_and_the_excess_is_named() -> None:
    bound = AttemptBound(prompt_tokens=100, completion_tokens=4, chars=1000)
    honest = check_usage(UsageReport(prompt_tokens=90, completion_tokens=4), bound)
    assert (honest.prompt_tokens, honest.completion_tokens, honest.excess) == (90, 4, None)
    inflated = check_usage(UsageReport(prompt_tokens=10**9, completion_tokens=10**7), bound)
    assert (inflated.prompt_tokens, inflated.completion_tokens) == (100, 4)
    assert inflated.excess is not None
    assert "prompt_tokens" in inflated.excess and "completion_tokens" in inflated.excess


def test_a_stream_is_cut_at_the_first_frame_or_character_past_the_bound() -> None:
    bound = AttemptBound(prompt_tokens=1, completion_tokens=2, chars=10)
    assert admit("abc", 0, 0, bound) == ("abc", None)
    piece, over = admit("x" * 20, 1, 3, bound)
    assert piece == "x" * 7 and over is not None and "10 characters" in over
    piece, over = admit("y", 2, 4, bound)
    assert piece == "" and over is not None and "max_tokens 2" in over


@pytest.mark.parametrize(
    "usage",
    [{"prompt_tokens": -1, "completion_tokens": 1}, {"prompt_tokens": "5", "completion_tokens": 1}],
)
def test_a_malformed_report_ends_the_attempt_it_names(usage: dict[str, object]) -> None:
    raw = json.dumps({"type": "done", "job_id": "job_a", "attempt": 2, "usage": usage})
    with pytest.raises(ValidationError) as caught:
        from_node_adapter.validate_json(raw)
    failure = malformed_failure(raw, caught.value)
    assert failure is not None and (failure.job_id, failure.attempt, failure.error) == (
        "job_a",
        2,
        MALFORMED,
    )
    assert "usage.prompt_tokens" in failure.message


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1]",
        '{"type": "done"}',
        '{"job_id": "j", "attempt": "1"}',
        "[" * 100_000 + "]" * 100_000,
    ],
)
@pytest.mark.usefixtures("deep_recursion_limit")  # a control plane settling on chain
def test_a_malformed_message_naming_no_attempt_is_dropped(raw: str) -> None:
    try:
        from_node_adapter.validate_json(raw)
    except ValidationError as exc:
        assert malformed_failure(raw, exc) is None


def test_a_nodes_failure_is_stored_with_a_known_code_and_bounded_text() -> None:
    code, text = node_failure(JobFailed(job_id="j", error="e" * 500, message="m" * 10**6))
    assert code == "backend_error" and len(text) == 1000
    assert node_failure(JobFailed(job_id="j", error="model_not_loaded", message="x")) == (
        "model_not_loaded",
        "x",
    )
