"""On the node: an engine's refusal of an over-long prompt goes up as the request's fault,
with the engine's own numbers, and is not counted as a failed job."""

from __future__ import annotations

from infernet.node.executor import run_job
from infernet.node.metrics import NodeMetrics
from infernet.node.outbox import Tokens
from infernet.protocol.wire import (
    CONTEXT_LENGTH_EXCEEDED,
    ChatMessageIn,
    JobAssignment,
    JobDone,
    JobFailed,
)
from tests.support.scripted import ScriptedBackend


def job(words: int) -> JobAssignment:
    text = " ".join(["word"] * words)
    return JobAssignment(
        job_id="j1",
        attempt=2,
        model="m:1b",
        messages=[ChatMessageIn(role="user", content=text)],
        max_tokens=16,
        temperature=0.0,
        top_p=1.0,
    )


async def test_a_prompt_too_long_for_the_engine_is_reported_with_its_count() -> None:
    sent: list[Tokens | JobDone | JobFailed] = []

    async def send(message: Tokens | JobDone | JobFailed) -> None:
        sent.append(message)

    engine = ScriptedBackend(["m:1b"], context_length=64)
    await run_job(engine, job(100), send)

    [refusal] = sent
    assert isinstance(refusal, JobFailed)
    assert (refusal.error, refusal.attempt) == (CONTEXT_LENGTH_EXCEEDED, 2)
    assert (refusal.prompt_tokens, refusal.context_length) == (100, 64)
    assert "The prompt is 100 tokens (the engine's count)" in refusal.message
    assert "m:1b runs with a context of 64 tokens" in refusal.message


def test_a_refusal_is_not_counted_as_a_failed_job() -> None:
    metrics = NodeMetrics()
    metrics.observe_message(
        JobFailed(job_id="j", error=CONTEXT_LENGTH_EXCEEDED, message="too long")
    )
    metrics.observe_message(JobFailed(job_id="k", error="backend_error", message="x"))
    assert metrics.failed == 1
    assert metrics.jobs.labels("refused")._value.get() == 1
