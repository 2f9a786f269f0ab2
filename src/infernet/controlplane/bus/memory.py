"""The in-process bus of the embedded single control plane: nothing crosses a process,
so broadcasts go nowhere, but each store is real (the job manager's single-process paths
do not need them; the shared conformance tests run them beside the Redis ones)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from infernet.controlplane.bus.base import (
    ChannelMap,
    Handler,
    SeqConflict,
    SlotBook,
    StreamEntry,
    TokenLog,
)
from infernet.controlplane.bus.events import BusEvent, HeartbeatSeen
from infernet.controlplane.store.ids import new_id


class MemoryTokenLog:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, list[StreamEntry]] = defaultdict(list)
        self._expires: dict[str, float] = {}
        self._changed = asyncio.Condition()
        self._clock = clock

    def _live(self, job_id: str) -> list[StreamEntry]:
        expires = self._expires.get(job_id)
        if expires is not None and self._clock() >= expires:
            self._entries.pop(job_id, None)
            del self._expires[job_id]
        return self._entries[job_id]

    async def append(self, runs: list[tuple[str, list[StreamEntry]]]) -> list[Exception | None]:
        async with self._changed:
            outcomes = [self._append(job_id, entries) for job_id, entries in runs]
            self._changed.notify_all()
        return outcomes

    def _append(self, job_id: str, entries: list[StreamEntry]) -> Exception | None:
        held = self._live(job_id)
        for entry in entries:
            if entry.seq != len(held) + 1:
                return SeqConflict(f"job {job_id}: seq {entry.seq} after {len(held)}")
            held.append(entry)
        return None

    async def read(self, job_id: str, after: int, block_s: float) -> list[StreamEntry]:
        async with self._changed:
            if len(self._live(job_id)) <= after:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), block_s)
            return list(self._live(job_id)[after:])

    async def last_seq(self, job_id: str) -> int:
        return len(self._live(job_id))

    async def retire(self, job_id: str, ttl_s: float) -> None:
        self._expires[job_id] = self._clock() + ttl_s


class MemorySlotBook:
    def __init__(self) -> None:
        self._held: dict[str, set[str]] = defaultdict(set)

    async def reserve(self, node_id: str, job_id: str, capacity: int) -> tuple[bool, list[str]]:
        held = self._held[node_id]
        taken = job_id in held or len(held) < capacity
        if taken:
            held.add(job_id)
        return taken, sorted(held)

    async def release(self, node_id: str, job_id: str) -> list[str]:
        held = self._held[node_id]
        held.discard(job_id)
        return sorted(held)


class MemoryChannelMap:
    def __init__(self) -> None:
        self._where: dict[str, str] = {}

    async def claim(self, node_id: str, replica_id: str) -> None:
        self._where[node_id] = replica_id

    async def release(self, node_id: str, replica_id: str) -> bool:
        if self._where.get(node_id) == replica_id:
            del self._where[node_id]
            return True
        return False

    async def where(self, node_id: str) -> str | None:
        return self._where.get(node_id)

    async def all(self) -> dict[str, str]:
        return dict(self._where)


class MemoryBus:
    shared = False

    def __init__(self, replica_id: str | None = None) -> None:
        self.replica_id = replica_id or new_id("cp")
        self.tokens: TokenLog = MemoryTokenLog()
        self.slots: SlotBook = MemorySlotBook()
        self.channels: ChannelMap = MemoryChannelMap()
        self._nodes: dict[str, HeartbeatSeen] = {}

    async def start(self, handler: Handler, on_resync: Callable[[], Awaitable[None]]) -> None:
        """Nothing to listen to: no other replica exists."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def broadcast(self, event: BusEvent) -> None:
        """No other replica to tell."""

    async def send(self, replica_id: str, event: BusEvent) -> None:
        raise LookupError(f"no replica {replica_id} in a single-process control plane")

    async def publish_node(self, seen: HeartbeatSeen) -> None:
        self._nodes[seen.node_id] = seen  # and no other replica to tell

    async def load_nodes(self) -> list[HeartbeatSeen]:
        return list(self._nodes.values())
