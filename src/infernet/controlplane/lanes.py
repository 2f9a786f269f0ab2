"""Messages applied each key's in order, different keys side by side.

Two readers use it. A node's job channel carries the messages of every job it runs
(api/node.py, one lane per job): handled one after the other, a job's finish (its row,
its charge, its receipt: commits that wait for the disk) held up the tokens of all the
node's other jobs queued behind it on the socket: at 32 concurrent streams on one node,
a first token waited ~150 ms in the control plane's receive queue. The bus between
replicas (bus/redis.py, one lane per job or node) had the same convoy: a forwarded
job's finish held up every assignment behind it (2.8 s p99 at 10,000 nodes on two
replicas). Here a key's messages are applied in the order they came (a token never
overtakes the job's `JobDone`, a duplicate waits for the first), while a slow move of
one key no longer delays the others.

The reader stops reading while `MAX_PENDING` messages wait (the sender waits too, as it
did when each message was applied before the next was read), so a sender cannot make
the control plane buffer without bound. A message that fails to apply is logged and
reported to `on_error` (the node channel closes, so the node reconnects and says what
it runs); the lane goes on with its next message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger("infernet.lanes")
MAX_PENDING = 1024  # messages read by one reader and not yet applied

Apply = Callable[[], Awaitable[None]]


class Lanes:
    def __init__(self, on_error: Callable[[BaseException], Awaitable[None]]) -> None:
        self._lanes: dict[str, deque[Apply]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._room = asyncio.Event()
        self._room.set()
        self._on_error = on_error

    async def add(self, lane: str, apply: Apply) -> None:
        """Apply `apply` after every earlier message of `lane`; waits while the reader's
        backlog is full."""
        await self._room.wait()
        self._pending += 1
        if self._pending >= MAX_PENDING:
            self._room.clear()
        if (queue := self._lanes.get(lane)) is not None:
            queue.append(apply)  # its worker is running: it takes this one in turn
            return
        self._lanes[lane] = deque([apply])
        worker = asyncio.create_task(self._work(lane), name=f"lane-{lane}")
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _work(self, lane: str) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                try:
                    await queue[0]()
                except Exception as exc:
                    log.exception("applying a message failed", extra={"lane": lane})
                    await self._report(exc)
                queue.popleft()
                self._pending -= 1
                if self._pending < MAX_PENDING:
                    self._room.set()
        finally:
            del self._lanes[lane]

    async def _report(self, exc: Exception) -> None:
        try:
            await self._on_error(exc)
        except Exception:  # the lane goes on: its later messages are still applied
            log.exception("acting on a failed message failed")

    async def drain(self) -> None:
        """Wait until every message read so far is applied (before a channel's close or
        a bus resync is acted on, or a message that must see all before it)."""
        while self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
