"""The job channel's writer (node/outbox.py): tokens that pile up while the channel is
busy leave in one frame, each still its own piece; nothing is lost or reordered within a
job; a channel that keeps up gets each token as it comes; beats get their reply, or fall
back to HTTP when the control plane does not answer them; a job's first token leaves at
once even when the engine has more ready."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from infernet.backends.base import Finish, GenerationEvent, GenerationRequest, TokenDelta, Usage
from infernet.node.executor import run_job
from infernet.node.outbox import Outbox, Tokens, coalesce
from infernet.protocol.wire import (
    ChatMessageIn,
    Heartbeat,
    HeartbeatResponse,
    JobAssignment,
    JobDone,
    JobFailed,
    JobToken,
    JobTokens,
    UsageReport,
    from_node_adapter,
)
from tests.support.scripted import ScriptedBackend
from tests.support.signed import heartbeat_payload

USAGE = UsageReport(prompt_tokens=1, completion_tokens=3)
BEAT = Heartbeat.model_validate(heartbeat_payload(["m:1b"]))


def tok(job: str, *texts: str, attempt: int = 1) -> Tokens:
    return Tokens(job, attempt, texts)


def test_an_attempts_queued_tokens_become_one_frame_where_its_first_token_was() -> None:
    done = JobDone(job_id="a", usage=USAGE)
    queued = [tok("a", "x"), tok("b", "1"), tok("a", "y", "w"), tok("b", "2"), done]
    queued.append(tok("a", "z", attempt=2))
    assert coalesce(queued) == [
        JobTokens(job_id="a", texts=["x", "y", "w"]),
        JobTokens(job_id="b", texts=["1", "2"]),
        done,
        JobTokens(job_id="a", attempt=2, texts=["z"]),
    ]


def test_tokens_never_pass_their_attempts_end() -> None:
    failed = JobFailed(job_id="a", error="backend_error", message="gone")
    queued = [tok("a", "x"), failed, tok("a", "late")]
    frames = coalesce(queued)
    assert frames == [
        JobTokens(job_id="a", texts=["x"]),
        failed,
        JobTokens(job_id="a", texts=["late"]),
    ]


class SlowChannel:
    """Takes frames; each write waits until the test lets it through."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, frame: str) -> None:
        await self.gate.wait()
        self.frames.append(frame)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_channel_that_keeps_up_gets_each_token_as_it_comes() -> None:
    channel = SlowChannel()
    outbox = Outbox(channel.send)
    for text in ["a", "b", "c"]:
        outbox.put(tok("j", text))
        await settle()
    await outbox.close()
    sent = [from_node_adapter.validate_json(f) for f in channel.frames]
    assert sent == [JobTokens(job_id="j", texts=[t]) for t in ["a", "b", "c"]]


async def test_tokens_that_piled_up_behind_a_busy_channel_leave_in_one_frame_in_order() -> None:
    channel = SlowChannel()
    outbox = Outbox(channel.send)
    outbox.put(tok("j", "a"))
    await settle()
    channel.gate.clear()  # the socket is full
    outbox.put(tok("j", "b"))
    await settle()
    for text in ["c", "d", "e"]:
        outbox.put(tok("j", text))
    outbox.put(JobDone(job_id="j", usage=USAGE))
    channel.gate.set()
    await settle()
    await outbox.close()
    sent = [from_node_adapter.validate_json(f) for f in channel.frames]
    assert sent == [
        JobTokens(job_id="j", texts=["a"]),
        JobTokens(job_id="j", texts=["b"]),  # being written when the rest came
        JobTokens(job_id="j", texts=["c", "d", "e"]),
        JobDone(job_id="j", usage=USAGE),
    ]


async def test_a_beat_is_answered_on_the_channel() -> None:
    channel = SlowChannel()
    outbox = Outbox(channel.send)
    reply = HeartbeatResponse(node_id="n", status="online", heartbeat_interval_s=30)
    answered = asyncio.create_task(outbox.beat(BEAT, 5))
    await settle()
    assert from_node_adapter.validate_json(channel.frames[-1]).type == "beat"
    outbox.replied(reply)
    assert await answered == reply
    await outbox.close()


async def test_a_control_plane_that_does_not_answer_beats_is_not_asked_again() -> None:
    outbox = Outbox(SlowChannel().send)
    assert await outbox.beat(BEAT, 0.05) is None
    assert not outbox.answers_beats
    assert await outbox.beat(BEAT, 5) is None  # at once: the caller uses HTTP
    await outbox.close()


async def test_a_closed_channel_refuses_more_and_a_waiting_beat_gives_up() -> None:
    outbox = Outbox(SlowChannel().send)
    waiting = asyncio.create_task(outbox.beat(BEAT, 5))
    await settle()
    await outbox.close()
    assert await waiting is None and outbox.answers_beats
    with pytest.raises(ConnectionError):
        outbox.put(tok("j", "a"))


async def test_closing_writes_what_is_queued_first() -> None:
    channel = SlowChannel()
    outbox = Outbox(channel.send)
    outbox.put(tok("j", "a"))
    outbox.put(JobDone(job_id="j", usage=USAGE))  # the job's end, just before a stop
    await outbox.close()
    sent = [from_node_adapter.validate_json(f) for f in channel.frames]
    assert sent == [JobTokens(job_id="j", texts=["a"]), JobDone(job_id="j", usage=USAGE)]


async def test_a_jobs_first_token_is_written_before_the_engine_is_read_again() -> None:
    """An engine that has the whole answer ready (every read returns at once) must not
    hold the first token back until it is all read: the first leaves at once."""
    written: list[str] = []

    async def write(frame: str) -> None:
        written.append(frame)

    outbox = Outbox(write)
    seen_before_second: list[str] = []

    class Ready(ScriptedBackend):
        async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
            yield TokenDelta(("first",))
            seen_before_second.extend(written)  # no await in between: nothing yields
            yield TokenDelta((" second",))
            yield Finish(Usage(1, 2))

    async def send(message: Tokens | JobDone | JobFailed) -> None:
        outbox.put(message)

    assignment = JobAssignment(
        job_id="j1",
        model="m:1b",
        messages=[ChatMessageIn(role="user", content="hi")],
        max_tokens=8,
        temperature=0.0,
        top_p=1.0,
    )
    await run_job(Ready(["m:1b"]), assignment, send)
    await outbox.close()
    [first] = [from_node_adapter.validate_json(frame) for frame in seen_before_second]
    assert isinstance(first, JobToken | JobTokens) and first.texts == ["first"]
