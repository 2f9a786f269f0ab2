"""The token stream of one job, held in memory while the job lives.

Tokens are pushed here as they arrive from the node and fanned out to every reader; a
reader that joins late replays from the first token. No database polling anywhere.

Every piece has a number (1, 2, ...) and the end (done or error) the next one: these are
the SSE `id:`s, so a client reconnecting with `Last-Event-ID: n` gets exactly the rest.
With several replicas the stream is mirrored, entry by entry with the same numbers, into
the bus's `TokenLog`, where any replica reads it; a mirror write that fails (Redis down)
is retried with the next write or by `resync`, so numbers never skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.exceptions import RedisError

from infernet.controlplane.bus.base import SeqConflict, StreamEntry, TokenLog

log = logging.getLogger("infernet.streams")


@dataclass(frozen=True)
class StreamError(Exception):
    code: str
    message: str


class Mirror:
    """Copies a stream's entries, in order and each once, into a shared `TokenLog`."""

    def __init__(self, log: TokenLog, job_id: str, already: int = 0) -> None:
        self.log, self.job_id, self.sent = log, job_id, already
        self.lost = False  # another replica wrote this job's stream: stop writing

    async def sync(self, entries: list[StreamEntry]) -> None:
        for entry in entries[self.sent :]:
            if self.lost:
                return
            try:
                await self.log.append(self.job_id, entry)
            except SeqConflict:
                self.lost = True
                log.warning("job stream written elsewhere", extra={"job_id": self.job_id})
                return
            except (RedisError, OSError):
                log.warning("job stream mirror behind", extra={"job_id": self.job_id})
                return
            self.sent += 1

    async def resync(self, entries: list[StreamEntry]) -> None:
        """After an outage the log may be gone: write again what it lacks."""
        try:
            self.sent = min(self.sent, await self.log.last_seq(self.job_id))
        except (RedisError, OSError):
            return
        await self.sync(entries)


class JobStream:
    def __init__(self, mirror: Mirror | None = None) -> None:
        self.pieces: list[str] = []
        self.finished = False
        self.error: StreamError | None = None
        self._changed = asyncio.Condition()
        self.mirror = mirror

    def entries_list(self) -> list[StreamEntry]:
        entries = [StreamEntry(i, "piece", p) for i, p in enumerate(self.pieces, start=1)]
        end = len(self.pieces) + 1
        if self.error is not None:
            entries.append(StreamEntry(end, "error", self.error.message, self.error.code))
        elif self.finished:
            entries.append(StreamEntry(end, "done"))
        return entries

    async def _mirror(self) -> None:
        if self.mirror is not None:
            await self.mirror.sync(self.entries_list())

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    async def push(self, text: str) -> None:
        async with self._changed:
            self.pieces.append(text)
            self._changed.notify_all()
            await self._mirror()

    async def finish(self) -> None:
        async with self._changed:
            self.finished = True
            self._changed.notify_all()
            await self._mirror()

    async def fail(self, code: str, message: str) -> None:
        async with self._changed:
            self.error = StreamError(code, message)
            self._changed.notify_all()
            await self._mirror()

    async def resync(self) -> None:
        if self.mirror is not None:
            async with self._changed:
                await self.mirror.resync(self.entries_list())

    async def entries(
        self, after: int = 0, idle_timeout: float | None = None
    ) -> AsyncIterator[StreamEntry | None]:
        """Numbered entries after `after`, ending with the terminal one (done or error);
        None after `idle_timeout` s without news."""
        index = min(after, len(self.pieces))
        try:
            async for piece in self.follow(index, idle_timeout):
                if piece is None:
                    yield None
                    continue
                index += 1
                yield StreamEntry(index, "piece", piece)
        except StreamError as exc:
            if after <= len(self.pieces):
                yield StreamEntry(len(self.pieces) + 1, "error", exc.message, exc.code)
            return
        if after <= len(self.pieces):
            yield StreamEntry(len(self.pieces) + 1, "done")

    async def follow(
        self, start: int = 0, idle_timeout: float | None = None
    ) -> AsyncIterator[str | None]:
        """Yield pieces from `start` on; None after `idle_timeout` s without news (so the
        caller can send a keep-alive). Ends after the last piece; raises StreamError."""
        index = start
        while True:
            async with self._changed:
                if index >= len(self.pieces) and not self.finished and self.error is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), idle_timeout)
                fresh = self.pieces[index:]
                finished, error = self.finished, self.error
            if not fresh and not finished and error is None:
                yield None
            for piece in fresh:
                yield piece
            index += len(fresh)
            if error is not None:
                raise error
            if finished and index >= len(self.pieces):
                return
