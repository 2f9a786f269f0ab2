"""Job streams: numbered entries, and finished streams kept compactly for exact replay."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx

from infernet.controlplane.bus.base import StreamEntry
from infernet.controlplane.jobs.sse import entry_events
from infernet.controlplane.jobs.streams import STREAM_RETENTION_S, JobStream, StreamArchive
from infernet.controlplane.store import pieces
from infernet.controlplane.store.ids import utcnow
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

PIECES = ["Hel", "lo", ", ", "wor", "ld", "!"]


async def streamed(pieces: list[str], error: tuple[str, str] | None = None) -> JobStream:
    stream = JobStream()
    for piece in pieces:
        await stream.push(piece)
    if error is None:
        await stream.finish()
    else:
        await stream.fail(*error)
    return stream


async def rest(stream: JobStream, after: int) -> list[StreamEntry]:
    return [entry async for batch in stream.entries(after) for entry in batch]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_finished_stream_replays_exactly_the_rest_from_the_stored_text() -> None:
    original = await streamed(PIECES)
    archive = StreamArchive(600)
    archive.keep("job_1", original)
    for after in range(len(PIECES) + 2):
        replayed = archive.replay("job_1", "".join(PIECES))
        assert replayed is not None
        assert await rest(replayed, after) == await rest(original, after)


async def test_a_failed_stream_keeps_its_own_text_and_error() -> None:
    original = await streamed(PIECES[:3], ("node_disconnected", "The node went away."))
    archive = StreamArchive(600)
    archive.keep("job_1", original)
    replayed = archive.replay("job_1", None)
    assert replayed is not None
    entries = await rest(replayed, 1)
    assert entries == [
        StreamEntry(2, "piece", "lo"),
        StreamEntry(3, "piece", ", "),
        StreamEntry(4, "error", "The node went away.", "node_disconnected"),
    ]


async def test_an_empty_answer_replays_as_just_the_end() -> None:
    archive = StreamArchive(600)
    archive.keep("job_1", await streamed([]))
    replayed = archive.replay("job_1", "")
    assert replayed is not None
    assert await rest(replayed, 0) == [StreamEntry(1, "done")]


async def test_finished_streams_are_forgotten_after_the_retention() -> None:
    clock = Clock()
    archive = StreamArchive(600, clock)
    archive.keep("old", await streamed(PIECES))
    clock.now += 300
    archive.keep("new", await streamed(PIECES))
    clock.now += 301
    assert archive.replay("old", "".join(PIECES)) is None
    assert archive.replay("new", "".join(PIECES)) is not None
    assert len(archive) == 1


async def test_a_running_stream_or_a_text_that_differs_is_not_replayed() -> None:
    archive = StreamArchive(600)
    running = JobStream()
    await running.push("Hel")
    archive.keep("running", running)
    assert archive.replay("running", "Hel") is None
    archive.keep("done", await streamed(PIECES))
    assert archive.replay("done", "something else") is None


async def test_after_the_job_finished_and_left_memory_a_reconnect_gets_exactly_the_rest(
    harness: Harness,
) -> None:
    backend = ScriptedBackend(["m:1b"], tokens=["The ", "capital ", "is ", "Paris", "."])
    await harness.add_node(backend)
    body = {"model": "m:1b", "messages": [{"role": "user", "content": "capital?"}]}
    async with harness.client() as api:
        job_id = (await api.post("/api/v1/jobs", json=body)).json()["id"]
        for _ in range(200):
            if (await api.get(f"/api/v1/jobs/{job_id}")).json()["status"] == "completed":
                break
            await asyncio.sleep(0.05)
        assert harness.control_plane.services.jobs.live(job_id) is None, "finished: not kept"
        headers = {"Last-Event-ID": "2"}
        async with api.stream("GET", f"/api/v1/jobs/{job_id}/stream", headers=headers) as resp:
            lines = [line async for line in resp.aiter_lines()]
    ids = [int(line[4:]) for line in lines if line.startswith("id: ")]
    texts = [json.loads(line[6:])["text"] for line in lines if line.startswith("data: {")]
    assert ids == [3, 4, 5, 6], "no duplicates, no gaps, then the end"
    assert texts == ["is ", "Paris", "."]
    assert "data: [DONE]" in lines


async def _completed_and_archive_expired(harness: Harness, api: httpx.AsyncClient) -> str:
    backend = ScriptedBackend(["m:1b"], tokens=["The ", "capital ", "is ", "Paris", "."])
    await harness.add_node(backend)
    body = {"model": "m:1b", "messages": [{"role": "user", "content": "capital?"}]}
    job_id: str = (await api.post("/api/v1/jobs", json=body)).json()["id"]
    for _ in range(200):
        if (await api.get(f"/api/v1/jobs/{job_id}")).json()["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    jobs = harness.control_plane.services.jobs
    assert jobs.live(job_id) is None
    later = time.monotonic() + STREAM_RETENTION_S + 1
    jobs.archive.clock = lambda: later  # the retention passed: the piece ends are gone
    # ... and the sweeper deleted the pieces the journal stored (watchers/recovery.py)
    await pieces.forget_ended_before(harness.control_plane.services.db, utcnow())
    return job_id


async def test_a_resume_after_the_retention_is_refused_with_410_and_says_where_the_result_is(
    harness: Harness,
) -> None:
    async with harness.client() as api:
        job_id = await _completed_and_archive_expired(harness, api)
        for last in ("1", "2", "6"):
            resp = await api.get(f"/api/v1/jobs/{job_id}/stream", headers={"Last-Event-ID": last})
            assert resp.status_code == 410
            assert resp.json()["error"] == "stream_expired"
            assert f"GET /api/v1/jobs/{job_id}" in resp.json()["error_message"]


async def test_after_the_retention_a_stream_read_from_the_start_still_gets_the_whole_answer(
    harness: Harness,
) -> None:
    async with harness.client() as api:
        job_id = await _completed_and_archive_expired(harness, api)
        for headers in ({}, {"Last-Event-ID": "0"}):
            url = f"/api/v1/jobs/{job_id}/stream"
            async with api.stream("GET", url, headers=headers) as resp:
                assert resp.status_code == 200
                lines = [line async for line in resp.aiter_lines()]
            texts = [json.loads(line[6:])["text"] for line in lines if line.startswith("data: {")]
            assert "".join(texts) == "The capital is Paris."
            assert "data: [DONE]" in lines


async def test_a_reader_that_fell_behind_gets_what_it_missed_in_one_batch() -> None:
    stream = JobStream()
    await stream.push("Hel")
    await stream.push("lo")
    reader = stream.entries(0)
    first = await anext(reader)
    assert [(e.seq, e.text) for e in first] == [(1, "Hel"), (2, "lo")]
    await stream.push(", ")
    assert [(e.seq, e.text) for e in await anext(reader)] == [(3, ", ")]
    await stream.finish()
    assert [(e.seq, e.kind) for e in await anext(reader)] == [(4, "done")]


async def test_a_wake_up_with_nothing_to_show_yields_nothing() -> None:
    """A piece not stored yet wakes readers without giving them anything: they wait on
    (a reader would otherwise send a keep-alive per token)."""
    stream = JobStream(keeper=Unstored(), job_id="job_k")
    reader = asyncio.ensure_future(anext(stream.entries(0, idle_timeout=60)))
    await asyncio.sleep(0.01)  # the reader waits for news
    await stream.push("Hel")  # noted, not stored: not shown
    await asyncio.sleep(0.01)
    assert not reader.done(), "nothing was shown, so nothing is yielded"
    await stream.kept_upto(1)
    assert [(e.seq, e.text) for e in await reader] == [(1, "Hel")]


async def test_the_books_sse_writes_entries_that_came_together_at_once() -> None:
    async def batches() -> AsyncIterator[list[StreamEntry]]:
        yield [StreamEntry(1, "piece", "Hel"), StreamEntry(2, "piece", "lo")]
        yield []
        yield [StreamEntry(3, "done")]

    writes = [write async for write in entry_events(batches(), "job_b")]
    assert writes == [
        'id: 1\ndata: {"text": "Hel", "job_id": "job_b"}\n\nid: 2\ndata: {"text": "lo"}\n\n',
        ": keep-alive\n\n",
        "id: 3\ndata: [DONE]\n\n",
    ]


class Unstored:
    """A keeper that stores nothing until told (`kept_upto`)."""

    def note(self, stream: JobStream) -> None:
        pass

    async def load(self, job_id: str) -> list[str]:
        return []

    async def close(self) -> None:
        pass
