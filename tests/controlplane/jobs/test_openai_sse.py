"""`openai_events`: a job's stream as OpenAI SSE. Pieces already there leave in one write
(each still its own event), a reader that keeps up gets each piece as it comes, idle gaps
get keep-alive comments, and no piece is lost or repeated across a keep-alive."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import get_args

import pytest

from infernet.controlplane.bus.base import StreamEntry
from infernet.controlplane.jobs.openai_sse import (
    KEEP_ALIVE,
    STAND_IN_CREATED,
    STAND_IN_ID,
    ChatChunks,
    Chunks,
    CompletionChunks,
    Template,
    Templated,
    openai_events,
    templates_of,
)
from infernet.controlplane.jobs.sse import entry_event
from infernet.controlplane.jobs.streams import JobStream
from infernet.controlplane.schemas.openai import FinishReason, Usage
from infernet.protocol.wire import UsageReport


@dataclass
class Job:
    id: str = "job_1"
    stream: JobStream = field(default_factory=JobStream)
    usage: UsageReport | None = None
    finish_reason: str | None = "stop"


def contents(writes: list[str]) -> list[str]:
    texts: list[str] = []
    for write in writes:
        for line in write.split("\n"):
            if line.startswith("data: {"):
                delta = json.loads(line[6:])["choices"]
                if delta and (text := delta[0]["delta"].get("content")):
                    texts.append(text)
    return texts


async def test_pieces_already_streamed_leave_in_one_write_as_separate_events() -> None:
    job = Job()
    for piece in ["The ", "sea ", "is ", "wide."]:
        await job.stream.push(piece)
    job.usage = UsageReport(prompt_tokens=3, completion_tokens=4)
    await job.stream.finish()
    writes = [w async for w in openai_events(job, ChatChunks(job.id, 1, "m", True), 60.0)]
    assert len(writes) == 1, "the job had ended: opening, pieces and closing in one write"
    assert contents(writes) == ["The ", "sea ", "is ", "wide."]
    assert writes[0].count("data: ") == 8 and writes[0].endswith("data: [DONE]\n\n")
    assert '"usage": {"prompt_tokens": 3' in writes[0]


async def test_a_reader_that_keeps_up_gets_each_piece_as_it_comes() -> None:
    job = Job()
    events = openai_events(job, ChatChunks(job.id, 1, "m", False), 60.0)
    await job.stream.push("a")
    first = await anext(events)
    assert contents([first]) == ["a"], "the opening rides with the first piece"
    for piece in ["b", "c"]:
        await job.stream.push(piece)
        assert contents([await anext(events)]) == [piece]
    job.usage = UsageReport(prompt_tokens=1, completion_tokens=3)
    await job.stream.push("d", "e")  # two pieces in one frame from the node
    assert contents([await anext(events)]) == ["d", "e"]
    await job.stream.finish()
    last = await anext(events)
    assert last.endswith("data: [DONE]\n\n") and not contents([last])


async def test_a_reader_that_fell_behind_gets_what_piled_up_in_one_write() -> None:
    job = Job()
    events = openai_events(job, ChatChunks(job.id, 1, "m", False), 60.0)
    await job.stream.push("a")
    assert contents([await anext(events)]) == ["a"]
    for piece in ["b", "c", "d"]:  # the client was slow to take them
        await job.stream.push(piece)
    write = await anext(events)
    assert contents([write]) == ["b", "c", "d"] and write.count("data: ") == 3


async def test_idle_gaps_get_keep_alives_and_every_piece_arrives_once_in_order() -> None:
    job = Job()
    events = openai_events(job, ChatChunks(job.id, 1, "m", False), 0.01)
    writes: list[str] = []
    pieces = ["a", "b", "c"]
    async for write in events:
        writes.append(write)
        if write.endswith(KEEP_ALIVE) and pieces:  # idle seen: now the next piece comes
            await job.stream.push(pieces.pop(0))
            if not pieces:
                job.usage = UsageReport(prompt_tokens=1, completion_tokens=3)
                await job.stream.finish()
    assert contents(writes) == ["a", "b", "c"]
    assert sum(w.count(KEEP_ALIVE) for w in writes) >= 3
    assert writes[-1].endswith("data: [DONE]\n\n") and '"usage"' not in writes[-1]


TRICKY = ['say "hi"', "two\nlines", "tab\tand \\ back", "café ☃ 🚀", "\x00\x1f", "</script>"]


def test_a_piece_renders_as_the_whole_chunk_dumped_would() -> None:
    chunks = ChatChunks("chatcmpl-1", 1733250000, "m:1b", include_usage=False)
    for text in TRICKY:
        data = json.loads(chunks.piece(text).removeprefix("data: "))
        assert data["choices"][0]["delta"]["content"] == text
        assert chunks.piece(text) == f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


# A model name holding a stand-in (a private use character, a stand-in number) gets no
# template for what holds it: rendered in full, still the same bytes.
MODELS = ["m:1b", 'say "hi"/café', "x9000000001", "\ue000id\ue000", "n9000000003"]


@pytest.mark.parametrize("kind", [ChatChunks, CompletionChunks])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("include_usage", [True, False])
def test_templated_chunks_are_the_same_bytes_as_the_models_dump(
    kind: type[Chunks], model: str, include_usage: bool
) -> None:
    for job_id, created in [("chatcmpl-1", 1733250000), ('c"\n☃', 0), ("cmpl-2", 9000000001)]:
        chunks = kind(job_id, created, model, include_usage)
        templated = Templated(chunks)
        assert templated.include_usage == include_usage
        assert templated.opening() == chunks.opening()
        for text in TRICKY:
            assert templated.piece(text) == chunks.piece(text)
        for reason in get_args(FinishReason):
            assert templated.closing(reason) == chunks.closing(reason)
        usage = Usage(prompt_tokens=12, completion_tokens=0, total_tokens=12)
        assert templated.usage(usage) == chunks.usage(usage)


def test_a_book_event_is_the_json_the_book_describes() -> None:
    for seq, text in enumerate(TRICKY, start=1):
        piece = entry_event(StreamEntry(seq, "piece", text))
        assert piece == f"id: {seq}\ndata: {json.dumps({'text': text}, ensure_ascii=False)}\n\n"
        named = entry_event(StreamEntry(seq, "piece", text), job_id="job_1")
        assert json.loads(named.split("data: ", 1)[1]) == {"text": text, "job_id": "job_1"}


def test_a_template_fills_its_slots_in_the_order_they_were_named() -> None:
    template = Template.of('{"b": "<B>", "a": <A>}', ["<A>", "<B>"])
    assert template is not None
    assert template.render("1", '"x"') == '{"b": ""x"", "a": 1}'
    assert Template.of("<A> and <A>", ["<A>"]) is None  # not once: no template
    assert Template.of("nothing", ["<A>"]) is None


def test_chunks_of_a_plain_model_are_rendered_from_templates() -> None:
    made = templates_of(ChatChunks(STAND_IN_ID, STAND_IN_CREATED, "m:1b", True))
    assert None not in (made.opening, made.piece, made.usage, *made.closing.values())
    odd = templates_of(ChatChunks(STAND_IN_ID, STAND_IN_CREATED, "x9000000001", True))
    assert odd.opening is None and odd.piece is None
