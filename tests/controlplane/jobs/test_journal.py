"""The stream journal (jobs/journal.py), on SQLite and PostgreSQL: a reader sees a piece
only once it is stored, so whatever a client was shown survives a crash; the pieces come
back in order, numbered as streamed; the end (done or error) waits for the last piece.
After a restart (nothing in memory) a finished job's stream resumes exactly from them,
and a stream never ends with an empty error."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.bus.base import StreamEntry
from infernet.controlplane.bus.memory import MemoryBus
from infernet.controlplane.jobs.cluster import Cluster
from infernet.controlplane.jobs.journal import StreamJournal
from infernet.controlplane.jobs.owner import JobOwner
from infernet.controlplane.jobs.reading import Entries, StreamOpener
from infernet.controlplane.jobs.streams import JobStream, StreamArchive
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.jobs import JobRecord, JobStatus


class Held:
    """A keeper that stores nothing until told: shows what readers see meanwhile."""

    def __init__(self) -> None:
        self.noted: list[JobStream] = []

    def note(self, stream: JobStream) -> None:
        self.noted.append(stream)

    async def load(self, job_id: str) -> list[str]:
        return []


async def collect(stream: JobStream, into: list[str]) -> None:
    async for batch in stream.entries(0):
        into.extend(entry.kind if entry.terminal else entry.text for entry in batch)


async def test_a_reader_sees_only_stored_pieces_and_the_end_after_the_last() -> None:
    stream = JobStream(keeper=Held(), job_id="job_x")
    seen: list[str] = []
    reader = asyncio.create_task(collect(stream, seen))
    await stream.push("a")
    await stream.push("b")
    await stream.finish()
    await asyncio.sleep(0.05)
    assert seen == []  # nothing stored yet: nothing shown, not even the end
    await stream.kept_upto(1)
    await asyncio.sleep(0.05)
    assert seen == ["a"]
    await stream.kept_upto(2)
    await asyncio.wait_for(reader, 5)
    assert seen == ["a", "b", "done"]


async def test_a_new_jobs_pieces_are_kept_only_once_its_row_is_stored() -> None:
    keeper = Held()
    stream = JobStream(keeper=keeper, job_id="job_new")
    row: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stream.await_row(row)  # the job was sent to its node before its row's commit
    await stream.push("early")
    assert keeper.noted == [], "a crash now would leave a piece no job row names"
    row.set_result(1)
    await asyncio.sleep(0)
    assert keeper.noted == [stream]


async def test_the_pieces_of_a_job_whose_row_was_never_stored_are_never_kept() -> None:
    keeper = Held()
    stream = JobStream(keeper=keeper, job_id="job_lost")
    row: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stream.await_row(row)
    await stream.push("early")
    row.set_exception(OSError("disk I/O error"))
    await asyncio.sleep(0)
    await stream.push("late")
    assert keeper.noted == []


async def test_pieces_are_stored_in_order_and_load_back_after_a_restart(
    db: AsyncEngine,
) -> None:
    journal = StreamJournal(db)
    stream = JobStream(keeper=journal, job_id="job_y")
    seen: list[str] = []
    reader = asyncio.create_task(collect(stream, seen))
    for piece in ("The ", "answer ", "is ", "42"):
        await stream.push(piece)
    await stream.finish()
    await asyncio.wait_for(reader, 10)
    await journal.close()
    assert seen == ["The ", "answer ", "is ", "42", "done"]

    again = StreamJournal(db)  # a new process on the same database
    assert await again.load("job_y") == ["The ", "answer ", "is ", "42"]
    assert await again.load("job_unknown") == []


def opener(db: AsyncEngine) -> tuple[StreamOpener, StreamJournal]:
    """How a control plane that just (re)started reads streams: nothing live here, no
    archive in memory, the journal's pieces in the database."""
    caches = SimpleNamespace(forget=lambda _: None, forget_key=lambda _: None)
    journal = StreamJournal(db)
    cluster = Cluster(MemoryBus(), NodeRegistry(90), cast(JobOwner, None), caches, journal)
    return StreamOpener(lambda _: None, StreamArchive(600), cluster, 15), journal


def record(status: JobStatus, **fields: Any) -> JobRecord:
    return JobRecord("job_z", "acct", "m:1b", "m:1b", status, {}, utcnow(), **fields)


async def entries(opened: Entries) -> list[StreamEntry]:
    return [entry async for batch in opened for entry in batch]


async def test_a_stream_that_ended_before_a_restart_resumes_exactly_from_the_journal(
    db: AsyncEngine,
) -> None:
    reading, journal = opener(db)
    stream = JobStream(keeper=journal, job_id="job_z")
    for piece in ("one ", "two ", "three"):
        await stream.push(piece)
    async with asyncio.timeout(5):
        while stream.kept < 3:
            await asyncio.sleep(0.01)
    await journal.close()

    done = record("completed", content="one two three")
    rest = await entries(await reading.open(done, after=1))
    assert [(e.seq, e.kind, e.text) for e in rest] == [
        (2, "piece", "two "),
        (3, "piece", "three"),
        (4, "done", ""),
    ]
    failed = record("failed", error="node_disconnected", error_message="gone")
    (end,) = await entries(await reading.open(failed, after=3))
    assert (end.seq, end.kind, end.code, end.text) == (4, "error", "node_disconnected", "gone")


async def test_a_job_not_run_here_ends_its_stream_with_a_real_error(db: AsyncEngine) -> None:
    reading, _ = opener(db)
    (end,) = await entries(await reading.open(record("processing")))
    assert end.kind == "error" and end.code == "stream_unavailable"
    assert "GET /api/v1/jobs/job_z" in end.text
