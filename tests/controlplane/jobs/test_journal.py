"""The stream journal (jobs/journal.py), on SQLite and PostgreSQL: a reader sees a piece
only once it is stored, so whatever a client was shown survives a crash; the pieces come
back in order, numbered as streamed; the end (done or error) waits for the last piece."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.jobs.journal import StreamJournal
from infernet.controlplane.jobs.streams import JobStream


class Held:
    """A keeper that stores nothing until told: shows what readers see meanwhile."""

    def __init__(self) -> None:
        self.noted: list[JobStream] = []

    def note(self, stream: JobStream) -> None:
        self.noted.append(stream)

    async def load(self, job_id: str) -> list[str]:
        return []


async def collect(stream: JobStream, into: list[str]) -> None:
    async for entry in stream.entries(0):
        if entry is not None:
            into.append(entry.kind if entry.terminal else entry.text)


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
