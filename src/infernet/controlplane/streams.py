"""The token stream of one job, held in memory while the job lives.

Tokens are pushed here as they arrive from the node and fanned out to every reader; a
reader that joins late replays from the first token. No database polling anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class StreamError(Exception):
    code: str
    message: str


class JobStream:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.finished = False
        self.error: StreamError | None = None
        self._changed = asyncio.Condition()

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    async def push(self, text: str) -> None:
        async with self._changed:
            self.pieces.append(text)
            self._changed.notify_all()

    async def finish(self) -> None:
        async with self._changed:
            self.finished = True
            self._changed.notify_all()

    async def fail(self, code: str, message: str) -> None:
        async with self._changed:
            self.error = StreamError(code, message)
            self._changed.notify_all()

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
