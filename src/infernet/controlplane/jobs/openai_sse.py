"""A job's token stream as OpenAI's server-sent events, for `/v1` with `stream: true`.

    data: {chunk: role "assistant", content ""}      (chat only)
    data: {chunk: content "<piece>"}                  one per piece the node sent
    data: {chunk: delta {}, finish_reason}            the last choice chunk
    data: {chunk: choices [], usage}                  with stream_options.include_usage
    data: [DONE]

A job failing mid-stream ends with one `data: {"error": {...}}` chunk in OpenAI's error
shape and no `[DONE]` (the official SDK raises `APIError` on it). Idle streams get a
`: keep-alive` comment, which SSE clients ignore. When the client goes away, Starlette
stops this generator at its next write; the job itself runs on (see api/openai.py).
The framing (`event`, the keep-alive, headers) is the Book stream's, from sse.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from infernet.controlplane.errors import openai_error
from infernet.controlplane.jobs.sse import event, json_text
from infernet.controlplane.jobs.streams import JobStream, StreamError
from infernet.controlplane.schemas.openai import (
    ChatCompletionChunk,
    ChunkChoice,
    Completion,
    CompletionChoice,
    Delta,
    FinishReason,
    Usage,
)
from infernet.protocol.wire import UsageReport

KEEP_ALIVE = ": keep-alive\n\n"
# Stands in for a piece's text while a chunk's JSON is rendered once per stream (a private
# use character, which no model name or job id contains).
_SLOT = "\ue000piece\ue000"
DONE = "data: [DONE]\n\n"
# A failed job's error code -> the HTTP status it stands for (502 for the rest).
FAILURE_STATUS = {
    "timeout": 504,
    "no_capacity": 503,
    "internal_error": 500,
    "context_length_exceeded": 400,  # an engine counted the prompt: too long for every node
}


class LiveJob(Protocol):
    """What this module reads of the job manager's live job."""

    id: str
    stream: JobStream
    usage: UsageReport | None
    finish_reason: str | None


def finish_reason(job: LiveJob) -> FinishReason:
    return "length" if job.finish_reason == "length" else "stop"


def job_usage(job: LiveJob) -> Usage:
    if job.usage is None:  # on_done always records usage before the stream finishes
        raise StreamError("internal_error", "The job finished without a usage report.")
    prompt, completion = job.usage.prompt_tokens, job.usage.completion_tokens
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


class ChunkRenderer(Protocol):
    @property
    def include_usage(self) -> bool: ...
    def opening(self) -> str | None: ...
    def piece(self, text: str) -> str: ...
    def closing(self, reason: FinishReason) -> str: ...
    def usage(self, usage: Usage) -> str: ...


class LastEvents(str):
    """A stream's last events: its response ends with them, in the same write (a separate
    write of the body's end was a system call and a wake-up of the client per job)."""


@dataclass(frozen=True)
class PieceFrame:
    """A content chunk's event split around its text: rendering a piece is then one JSON
    string encode, the same bytes the full model dump gives, on every token."""

    head: str
    tail: str

    @classmethod
    def of(cls, rendered: str) -> PieceFrame:
        head, tail = rendered.split(json_text(_SLOT), 1)
        return cls(head, tail)

    def render(self, text: str) -> str:
        return self.head + json_text(text) + self.tail


@dataclass(frozen=True)
class ChatChunks:
    id: str
    created: int
    model: str
    include_usage: bool

    def _chunk(self, choices: list[ChunkChoice], usage: Usage | None = None) -> str:
        chunk = ChatCompletionChunk(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )
        exclude = None if self.include_usage else {"usage"}
        return event(chunk.model_dump(mode="json", exclude=exclude))

    def opening(self) -> str | None:
        return self._chunk([ChunkChoice(delta=Delta(role="assistant", content=""))])

    @cached_property
    def _piece_frame(self) -> PieceFrame:
        return PieceFrame.of(self._chunk([ChunkChoice(delta=Delta(content=_SLOT))]))

    def piece(self, text: str) -> str:
        return self._piece_frame.render(text)

    def closing(self, reason: FinishReason) -> str:
        return self._chunk([ChunkChoice(delta=Delta(), finish_reason=reason)])

    def usage(self, usage: Usage) -> str:
        return self._chunk([], usage)


@dataclass(frozen=True)
class CompletionChunks:
    id: str
    created: int
    model: str
    include_usage: bool

    def _chunk(self, choices: list[CompletionChoice], usage: Usage | None = None) -> str:
        chunk = Completion(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )
        exclude = None if self.include_usage else {"usage"}
        return event(chunk.model_dump(mode="json", exclude=exclude))

    def opening(self) -> str | None:
        return None

    @cached_property
    def _piece_frame(self) -> PieceFrame:
        return PieceFrame.of(self._chunk([CompletionChoice(text=_SLOT)]))

    def piece(self, text: str) -> str:
        return self._piece_frame.render(text)

    def closing(self, reason: FinishReason) -> str:
        return self._chunk([CompletionChoice(text="", finish_reason=reason)])

    def usage(self, usage: Usage) -> str:
        return self._chunk([], usage)


async def _batches(stream: JobStream, keepalive_s: float) -> AsyncIterator[list[str] | None]:
    """The stream's pieces, all that are here at each wake-up; None after `keepalive_s`
    without one. Each wait is bounded by a timer (`asyncio.timeout`), not a task per wait
    as `batches(idle_timeout=...)` makes: on expiry the follower is dropped and a new one
    resumes after the last piece taken."""
    taken = 0
    while True:
        follower = stream.batches(taken)
        try:
            while True:
                async with asyncio.timeout(keepalive_s):
                    fresh = await anext(follower)
                taken += len(fresh)
                yield fresh
        except StopAsyncIteration:
            return
        except TimeoutError:
            yield None
        finally:
            if isinstance(follower, AsyncGenerator):
                await follower.aclose()


async def openai_events(
    job: LiveJob, chunks: ChunkRenderer, keepalive_s: float
) -> AsyncIterator[str]:
    """The stream's events, written in as few sends as the pieces allow: the pieces that
    are here when the client's connection takes more leave in one send (each still its
    own SSE event), the opening chunk rides with the first piece, and the closing chunks
    leave with the last pieces. A client that keeps up gets each piece as it comes."""
    out = [opening] if (opening := chunks.opening()) is not None else []
    try:
        async for fresh in _batches(job.stream, keepalive_s):
            if fresh is None:
                out.append(KEEP_ALIVE)
            else:
                out.extend(chunks.piece(piece) for piece in fresh if piece)
            if job.stream.over:
                continue  # these were the last: they leave with the closing chunks
            if out:
                yield "".join(out)
                out.clear()
        usage = job_usage(job)
    except StreamError as exc:
        out.append(event(openai_error(FAILURE_STATUS.get(exc.code, 502), exc.code, exc.message)))
        yield LastEvents("".join(out))
        return
    out.append(chunks.closing(finish_reason(job)))
    if chunks.include_usage:
        out.append(chunks.usage(usage))
    out.append(DONE)
    yield LastEvents("".join(out))
