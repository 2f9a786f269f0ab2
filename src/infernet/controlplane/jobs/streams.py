"""The token stream of one job, held in memory while the job lives.

Tokens are pushed here as they arrive from the node and fanned out to every reader; a
reader that joins late replays from the first token. No database polling anywhere.

Every piece has a number (1, 2, ...) and the end (done or error) the next one: these are
the SSE `id:`s, so a client reconnecting with `Last-Event-ID: n` gets exactly the rest.
With several replicas the stream is copied, entry by entry with the same numbers, into
the bus's `TokenLog`, where any replica reads it (jobs/mirror.py: in the background, so a
push never waits for Redis).

Without a shared bus a `Keeper` (jobs/journal.py) stores the pieces in the database in
batches, and readers see each piece only once it is stored, so a restart finds all that
any client was shown.

A finished job leaves memory at once; `StreamArchive` keeps, for a while, only where its
pieces ended (4 bytes a piece, plus the text of a failed job, which the database does not
hold), so a late reconnect still replays exactly the rest from the stored final text.
After that a resume after an event id cannot be told exactly; the stream endpoint then
answers 410 `stream_expired` (pointing to the job's stored result) rather than guess.
"""

from __future__ import annotations

import asyncio
import logging
import time
from array import array
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

from infernet.controlplane.bus.base import StreamEntry

log = logging.getLogger("infernet.streams")
# How long a finished job's stream stays resumable after an event id (StreamArchive).
STREAM_RETENTION_S = 600.0


@dataclass(frozen=True)
class StreamError(Exception):
    code: str
    message: str


class Copy(Protocol):
    """Copies a stream's entries where every replica reads them (jobs/mirror.py)."""

    def note(self, stream: JobStream) -> None:
        """`stream` has entries not copied yet (no await: called under its lock)."""
        ...

    async def resync(self, stream: JobStream) -> None:
        """After an outage the copy may be gone: copy again what it lacks."""
        ...


class Keeper(Protocol):
    """Stores a stream's pieces where a restart finds them (jobs/journal.py), and then
    calls `JobStream.kept_upto`."""

    def note(self, stream: JobStream) -> None: ...

    async def load(self, job_id: str) -> list[str]:
        """The job's stored pieces, in order."""
        ...

    async def close(self) -> None: ...


class JobStream:
    def __init__(
        self, mirror: Copy | None = None, keeper: Keeper | None = None, job_id: str = ""
    ) -> None:
        self.job_id = job_id
        self.pieces: list[str] = []
        self.finished = False
        self.error: StreamError | None = None
        self._changed = asyncio.Condition()
        self.mirror = mirror
        # With a keeper, readers see a piece only once it is stored: whatever a client
        # was shown, a restart finds, so its Last-Event-ID resume is exact.
        self.keeper = keeper
        self.kept = 0
        # A new job's pieces may arrive before its row is committed (the job is sent
        # first, manager.py): they are kept only once it is, or a crash in between would
        # leave stored pieces of a job no row names, never pruned (store/pieces.py).
        self.row_pending = False

    @property
    def shown(self) -> int:
        """How many pieces readers may see: all, or with a keeper those it stored."""
        return len(self.pieces) if self.keeper is None else min(self.kept, len(self.pieces))

    @property
    def over(self) -> bool:
        """The end (done or error) is for readers once every piece before it is shown."""
        ended = self.finished or self.error is not None
        return ended and self.shown == len(self.pieces)

    def await_row(self, committed: asyncio.Future[int]) -> None:
        """The job's row is not committed yet: the keeper is told nothing until it is
        (whoever was waiting for that commit; a row never stored: never)."""
        self.row_pending = True
        committed.add_done_callback(self._row_done)

    def _row_done(self, committed: asyncio.Future[int]) -> None:
        if committed.cancelled() or committed.exception() is not None:
            return
        self.row_pending = False  # no await here: `push` notes what it adds from now on
        if self.keeper is not None and len(self.pieces) > self.kept:
            self.keeper.note(self)

    async def kept_upto(self, count: int) -> None:
        """The keeper stored the first `count` pieces: readers may see them."""
        async with self._changed:
            self.kept = max(self.kept, count)
            self._changed.notify_all()

    @classmethod
    def ended(cls, text: str, ends: array[int], error: StreamError | None) -> JobStream:
        """A finished stream rebuilt from its text and where each piece ended."""
        stream = cls()
        stream.pieces = [text[start:end] for start, end in pairwise([0, *ends])]
        stream.finished, stream.error = error is None, error
        return stream

    @property
    def ended_at(self) -> array[int]:
        """The offset in `text` where each piece ends."""
        ends, total = array("I"), 0
        for piece in self.pieces:
            total += len(piece)
            ends.append(total)
        return ends

    def entries_from(self, start: int) -> list[StreamEntry]:
        """The entries after the first `start`: pieces, then the end if it came."""
        pieces = self.pieces[start:]
        entries = [StreamEntry(i, "piece", p) for i, p in enumerate(pieces, start=start + 1)]
        end = len(self.pieces) + 1
        if start >= end:
            return []
        if self.error is not None:
            entries.append(StreamEntry(end, "error", self.error.message, self.error.code))
        elif self.finished:
            entries.append(StreamEntry(end, "done"))
        return entries

    def _mirror(self) -> None:
        if self.mirror is not None:
            self.mirror.note(self)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    async def push(self, *texts: str) -> None:
        """Add pieces (those that came in one frame: one wake-up of the readers for all)."""
        async with self._changed:
            self.pieces.extend(texts)
            if self.keeper is not None and not self.row_pending:
                self.keeper.note(self)
            self._changed.notify_all()
            self._mirror()

    async def finish(self) -> None:
        async with self._changed:
            self.finished = True
            self._changed.notify_all()
            self._mirror()

    async def fail(self, code: str, message: str) -> None:
        async with self._changed:
            self.error = StreamError(code, message)
            self._changed.notify_all()
            self._mirror()

    async def resync(self) -> None:
        if self.mirror is not None:
            async with self._changed:
                await self.mirror.resync(self)

    async def entries(
        self, after: int = 0, idle_timeout: float | None = None
    ) -> AsyncIterator[list[StreamEntry]]:
        """Numbered entries after `after`, ending with the terminal one (done or error):
        at each wake-up all that are here, in one list (a reader that fell behind gets
        what it missed at once); [] after `idle_timeout` s without news."""
        index = min(after, len(self.pieces))
        try:
            async for fresh in self.batches(index, idle_timeout):
                yield [StreamEntry(index + n, "piece", p) for n, p in enumerate(fresh, 1)]
                index += len(fresh)
        except StreamError as exc:
            if after <= len(self.pieces):
                yield [StreamEntry(len(self.pieces) + 1, "error", exc.message, exc.code)]
            return
        if after <= len(self.pieces):
            yield [StreamEntry(len(self.pieces) + 1, "done")]

    async def follow(
        self, start: int = 0, idle_timeout: float | None = None
    ) -> AsyncIterator[str | None]:
        """Yield pieces from `start` on; None after `idle_timeout` s without news (so the
        caller can send a keep-alive). Ends after the last piece; raises StreamError."""
        async for fresh in self.batches(start, idle_timeout):
            if not fresh:
                yield None
            for piece in fresh:
                yield piece

    async def batches(
        self, start: int = 0, idle_timeout: float | None = None
    ) -> AsyncIterator[list[str]]:
        """Yield, from piece `start` on, all the pieces that are here at each wake-up (a
        reader that keeps up gets one at a time; one that fell behind, all it missed at
        once); [] after `idle_timeout` s without news (a wake-up that brought nothing
        to show, such as a piece not yet stored, yields nothing). Ends after the last
        piece; raises StreamError."""
        index = start
        while True:
            idle = False
            async with self._changed:
                if index >= self.shown and not self.over:
                    try:
                        await asyncio.wait_for(self._changed.wait(), idle_timeout)
                    except TimeoutError:
                        idle = True
                fresh = self.pieces[index : self.shown]
                over, error = self.over, self.error
            if fresh or (idle and not over):
                yield fresh
            index += len(fresh)
            if over and error is not None:
                raise error
            if over and index >= len(self.pieces):
                return


@dataclass(frozen=True, slots=True)
class _Ended:
    expires: float
    ends: array[int]
    text: str | None  # None: the job completed and its row holds the text
    error: StreamError | None


class StreamArchive:
    """Finished streams, compactly, for `retention_s` after they ended: what a client that
    reconnects with `Last-Event-ID` needs to get exactly the rest, and nothing more."""

    def __init__(self, retention_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.retention_s, self.clock = retention_s, clock  # tests move it
        self._kept: dict[str, _Ended] = {}  # in the order they ended, so oldest first

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, job_id: str, stream: JobStream) -> None:
        """Remember an ended stream (a stream still running is not kept)."""
        if not stream.finished and stream.error is None:
            return
        now = self.clock()
        self._prune(now)
        text = None if stream.error is None else stream.text
        self._kept.pop(job_id, None)
        self._kept[job_id] = _Ended(now + self.retention_s, stream.ended_at, text, stream.error)

    def replay(self, job_id: str, stored_text: str | None) -> JobStream | None:
        """The ended stream of `job_id`, numbered as it was streamed, or None when it is
        not kept (any more) or `stored_text` (the job row's) is not the text it streamed."""
        self._prune(self.clock())
        kept = self._kept.get(job_id)
        if kept is None:
            return None
        text = kept.text if kept.text is not None else stored_text or ""
        if len(text) != (kept.ends[-1] if kept.ends else 0):
            return None
        return JobStream.ended(text, kept.ends, kept.error)

    def _prune(self, now: float) -> None:
        while self._kept:
            job_id, oldest = next(iter(self._kept.items()))
            if oldest.expires > now:
                return
            del self._kept[job_id]
