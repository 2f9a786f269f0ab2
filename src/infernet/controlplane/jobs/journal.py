"""Keeping every running job's token stream in the database, so a restart loses nothing
a client was shown (one control plane; with several, the bus's `TokenLog` in Redis holds
the streams).

A piece pushed to a stream is noted here; one writer stores the pieces of all streams
noted while it was writing, in one transaction (a row per stream: its new pieces as one
run, store/pieces.py), then lets each stream show them
(`JobStream.kept_upto`). So a reader sees a piece one commit after it arrived, and a
burst of tokens from many jobs costs a few commits, not one each. Its commits
survive a crash of this process without waiting for the disk (store/one_trip.py,
`relaxed`; a power loss may lose the last pieces).
After a restart the stored pieces are the stream (`load`): a client resumes with
`Last-Event-ID` exactly, and the next node continues the answer from them (takeover.py).
A piece that arrived but was not stored when the process died was shown to no one; the
next node writes it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.jobs.streams import JobStream
from infernet.controlplane.store import pieces

log = logging.getLogger("infernet.streams")
RETRY_S = 0.5  # after a failed write (database unreachable), before the next try


class StreamJournal:
    def __init__(self, db: AsyncEngine) -> None:
        self._db = db
        self._dirty: dict[str, JobStream] = {}  # job id -> its stream, with pieces to store
        self._writer: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    def note(self, stream: JobStream) -> None:
        """`stream` has pieces not stored yet (called under its lock: no await here)."""
        self._dirty[stream.job_id] = stream
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="stream-journal")

    async def load(self, job_id: str) -> list[str]:
        return await pieces.load(self._db, job_id)

    async def _write(self) -> None:
        while self._dirty:
            batch, self._dirty = self._dirty, {}
            upto = {job_id: len(stream.pieces) for job_id, stream in batch.items()}
            runs = [
                (job_id, stream.kept + 1, stream.pieces[stream.kept : upto[job_id]])
                for job_id, stream in batch.items()
                if upto[job_id] > stream.kept
            ]
            try:
                await pieces.append(self._db, runs)
            except Exception:  # readers wait; the pieces are written on the next try
                log.exception("could not store stream pieces; retrying")
                for job_id, stream in batch.items():
                    self._dirty.setdefault(job_id, stream)
                await asyncio.sleep(RETRY_S)
                continue
            for job_id, stream in batch.items():
                await stream.kept_upto(upto[job_id])
