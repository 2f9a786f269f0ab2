"""Job streams copied into the bus's shared `TokenLog` (several replicas), in the background.

This replica's readers see a piece as it comes; the copy, for other replicas' readers and
for a takeover after this replica dies, follows. One writer serves every stream: what
all streams gained while a write was on its way goes in the next, one round trip for all
of them (a burst of tokens from many jobs costs a few trips, not one each, and a push
never waits for Redis), each job's entries in order and each once. A write refused
because another replica wrote that job's stream first (`SeqConflict`: it took the job
over) stops that stream's copy; a write that failed (Redis down) is tried again after
`RETRY_S`, and `resync`, after an outage, copies again what the log lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.exceptions import RedisError

from infernet.controlplane.bus.base import SeqConflict, StreamEntry, TokenLog
from infernet.controlplane.jobs.streams import JobStream

log = logging.getLogger("infernet.streams")
RETRY_S = 0.5  # after a failed write, before the next try
CLOSE_S = 5.0  # on close, what was noted gets this long to be written


class Mirror:
    """One stream's copy: how many of its entries are in the log."""

    def __init__(self, writer: MirrorWriter, job_id: str, already: int = 0) -> None:
        self.writer, self.job_id, self.sent = writer, job_id, already
        self.lost = False  # another replica wrote this job's stream: stop writing

    def note(self, stream: JobStream) -> None:
        if not self.lost:
            self.writer.note(self, stream)

    async def resync(self, stream: JobStream) -> None:
        try:
            self.sent = min(self.sent, await self.writer.log.last_seq(self.job_id))
        except (RedisError, OSError):
            return
        self.note(stream)


class MirrorWriter:
    """The one writer of a replica's stream copies (see the module docstring)."""

    def __init__(self, log: TokenLog) -> None:
        self.log = log
        self._dirty: dict[str, tuple[Mirror, JobStream]] = {}
        self._writer: asyncio.Task[None] | None = None

    def note(self, mirror: Mirror, stream: JobStream) -> None:
        self._dirty[mirror.job_id] = (mirror, stream)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="stream-mirror")

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writer), CLOSE_S)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write(self) -> None:
        while self._dirty:
            batch, self._dirty = self._dirty, {}
            runs = [
                (mirror, stream, stream.entries_from(mirror.sent))
                for mirror, stream in batch.values()
                if not mirror.lost
            ]
            runs = [run for run in runs if run[2]]
            try:
                outcomes = await self.log.append([(m.job_id, entries) for m, _, entries in runs])
            except (RedisError, OSError) as exc:
                outcomes = [exc] * len(runs)
            if self._settle(runs, outcomes):
                log.warning("job stream mirror behind; retrying", extra={"jobs": len(runs)})
                await asyncio.sleep(RETRY_S)

    def _settle(
        self,
        runs: list[tuple[Mirror, JobStream, list[StreamEntry]]],
        outcomes: list[Exception | None],
    ) -> bool:
        """Count what was written; True when some write failed (noted again to retry)."""
        failed = False
        for (mirror, stream, entries), outcome in zip(runs, outcomes, strict=True):
            if outcome is None:
                mirror.sent += len(entries)
            elif isinstance(outcome, SeqConflict):
                mirror.lost = True
                log.warning("job stream written elsewhere", extra={"job_id": mirror.job_id})
            else:
                failed = True
                self._dirty.setdefault(mirror.job_id, (mirror, stream))
        return failed
