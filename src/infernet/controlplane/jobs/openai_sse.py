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
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, get_args

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
# Stand in for a stream's own values while its chunks' JSON is rendered once per model
# (Templates); one that a model's name happens to hold makes no template.
STAND_IN_ID, _TEXT = "\ue000id\ue000", "\ue000piece\ue000"  # private use characters
STAND_IN_CREATED = 9_000_000_001
_PROMPT, _COMPLETION, _TOTAL = 9_000_000_002, 9_000_000_003, 9_000_000_004
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


class LastEvents(str):
    """A stream's last events: its response ends with them, in the same write (a separate
    write of the body's end was a system call and a wake-up of the client per job)."""


@dataclass(frozen=True)
class Template:
    """An event rendered once with stand-ins for its stream's values, split around them:
    rendering it for a stream joins strings, the same bytes as the model's dump (a model
    built and dumped per chunk was ~30 µs of the control plane's ~0.9 ms per job)."""

    parts: tuple[str, ...]  # the text around the slots, in order
    order: tuple[int, ...]  # which value goes in each slot

    @classmethod
    def of(cls, rendered: str, stand_ins: Sequence[str]) -> Template | None:
        """None unless each stand-in is in `rendered` exactly once."""
        if any(rendered.count(s) != 1 for s in stand_ins):
            return None
        slots = sorted((rendered.index(s), i) for i, s in enumerate(stand_ins))
        parts, at = [], 0
        for start, i in slots:
            parts.append(rendered[at:start])
            at = start + len(stand_ins[i])
        return cls((*parts, rendered[at:]), tuple(i for _, i in slots))

    def render(self, *values: str) -> str:
        out = [self.parts[0]]
        for slot, part in zip(self.order, self.parts[1:], strict=True):
            out += (values[slot], part)
        return "".join(out)


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

    def piece(self, text: str) -> str:
        return self._chunk([ChunkChoice(delta=Delta(content=text))])

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

    def piece(self, text: str) -> str:
        return self._chunk([CompletionChoice(text=text)])

    def closing(self, reason: FinishReason) -> str:
        return self._chunk([CompletionChoice(text="", finish_reason=reason)])

    def usage(self, usage: Usage) -> str:
        return self._chunk([], usage)


Chunks = ChatChunks | CompletionChunks


@dataclass(frozen=True)
class Templates:
    opening: Template | None
    piece: Template | None
    closing: dict[FinishReason, Template | None]
    usage: Template | None


@lru_cache(maxsize=256)
def templates_of(stand_in: Chunks) -> Templates:
    """The templates of `stand_in`'s kind of chunks, model and usage choice."""
    stream = (json_text(STAND_IN_ID), str(STAND_IN_CREATED))
    opening = stand_in.opening()
    counts = Usage(prompt_tokens=_PROMPT, completion_tokens=_COMPLETION, total_tokens=_TOTAL)
    return Templates(
        opening=None if opening is None else Template.of(opening, stream),
        piece=Template.of(stand_in.piece(_TEXT), (*stream, json_text(_TEXT))),
        closing={r: Template.of(stand_in.closing(r), stream) for r in get_args(FinishReason)},
        usage=Template.of(
            stand_in.usage(counts), (*stream, str(_PROMPT), str(_COMPLETION), str(_TOTAL))
        ),
    )


class Templated:
    """`chunks`, rendered from its model's templates (the same bytes); where a template
    could not be made, by `chunks` itself."""

    def __init__(self, chunks: Chunks) -> None:
        self._chunks = chunks
        kind = type(chunks)
        self._made = templates_of(
            kind(STAND_IN_ID, STAND_IN_CREATED, chunks.model, chunks.include_usage)
        )
        self._stream = (json_text(chunks.id), str(chunks.created))
        self.include_usage = chunks.include_usage
        # A piece's event around its text (rendered JSON escapes every control character,
        # so the cut is there once): one string encode and two joins per token.
        made = self._made.piece
        self._piece = None if made is None else made.render(*self._stream, "\0").split("\0")

    def opening(self) -> str | None:
        made = self._made.opening
        return made.render(*self._stream) if made else self._chunks.opening()

    def piece(self, text: str) -> str:
        if self._piece is None:
            return self._chunks.piece(text)
        head, tail = self._piece
        return head + json_text(text) + tail

    def closing(self, reason: FinishReason) -> str:
        made = self._made.closing[reason]
        return made.render(*self._stream) if made else self._chunks.closing(reason)

    def usage(self, usage: Usage) -> str:
        if (made := self._made.usage) is None:
            return self._chunks.usage(usage)
        counts = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
        return made.render(*self._stream, *map(str, counts))


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
    job: LiveJob, stream_chunks: Chunks, keepalive_s: float
) -> AsyncIterator[str]:
    """The stream's events, written in as few sends as the pieces allow: the pieces that
    are here when the client's connection takes more leave in one send (each still its
    own SSE event), the opening chunk rides with the first piece, and the closing chunks
    leave with the last pieces. A client that keeps up gets each piece as it comes."""
    chunks = Templated(stream_chunks)
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
