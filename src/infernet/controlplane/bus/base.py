"""What crosses control-plane replicas, as narrow Protocols.

- `TokenLog`: each job's token stream as numbered entries (1, 2, ... then one terminal
  entry), appended by the replica that owns the job and readable, resumably, from any
  replica. Entry numbers are the SSE `id:`s, the same on every replica.
- `SlotBook`: which jobs hold a node's slots, reserved atomically with a cap, so two
  replicas never overbook a node.
- `ChannelMap`: which replica holds each node's job channel.
- `Bus`: the above plus messages between replicas (broadcast, or to one replica) and the
  nodes' hot state (last heartbeat), so a replica that starts or reconnects catches up.

`memory.py` serves the embedded single process (nothing crosses anything; `shared` is
False and the job manager keeps its in-process paths); `redis.py` serves N replicas.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from infernet.controlplane.bus.events import BusEvent, HeartbeatSeen

EntryKind = Literal["piece", "done", "error"]


@dataclass(frozen=True)
class StreamEntry:
    seq: int  # 1-based position in the job's stream; the SSE event id
    kind: EntryKind
    text: str = ""  # the piece, or the error message
    code: str = ""  # the error code

    @property
    def terminal(self) -> bool:
        return self.kind != "piece"


class TokenLog(Protocol):
    async def append(self, runs: list[tuple[str, list[StreamEntry]]]) -> list[Exception | None]:
        """Append each (job id, entries) run, all in one step; each entry's seq must be
        one more than the last's. Per run: None, a `SeqConflict` (none of the run after
        the refused entry was appended), or the error that failed it."""
        ...

    async def read(self, job_id: str, after: int, block_s: float) -> list[StreamEntry]:
        """Entries with seq > `after`, waiting up to `block_s` for the first one."""
        ...

    async def last_seq(self, job_id: str) -> int:
        """The highest seq stored (0: none, or the log is gone)."""
        ...

    async def retire(self, job_id: str, ttl_s: float) -> None:
        """Keep the log `ttl_s` more seconds, then forget it."""
        ...


class SeqConflict(Exception):
    """An entry's seq is not after the log's last: another writer got there first."""


class SlotBook(Protocol):
    async def reserve(self, node_id: str, job_id: str, capacity: int) -> tuple[bool, list[str]]:
        """Take one of the node's `capacity` slots for `job_id` if one is free; returns
        whether it was taken (or already held) and the jobs holding slots now. A change
        is broadcast (`SlotsChanged`) in the same step."""
        ...

    async def release(self, node_id: str, job_id: str) -> list[str]:
        """Free `job_id`'s slot; the jobs holding slots now, broadcast in the same step
        even when `job_id` held none (a restarted store forgot it: bus/redis.py)."""
        ...


class ChannelMap(Protocol):
    async def claim(self, node_id: str, replica_id: str) -> None: ...

    async def release(self, node_id: str, replica_id: str) -> bool:
        """Forget the node's channel if `replica_id` still holds it."""
        ...

    async def where(self, node_id: str) -> str | None: ...

    async def all(self) -> dict[str, str]: ...


Handler = Callable[[BusEvent], Awaitable[None]]


class Bus(Protocol):
    replica_id: str
    shared: bool  # True when other replicas may exist
    tokens: TokenLog
    slots: SlotBook
    channels: ChannelMap

    async def start(self, handler: Handler, on_resync: Callable[[], Awaitable[None]]) -> None:
        """Deliver events for this replica to `handler` until `stop`; call `on_resync`
        when events may have been missed (first start, reconnect after an outage)."""
        ...

    async def stop(self) -> None: ...

    async def broadcast(self, event: BusEvent) -> None: ...

    async def send(self, replica_id: str, event: BusEvent) -> None: ...

    async def publish_node(self, seen: HeartbeatSeen) -> None:
        """Keep `seen` as the node's hot state (`load_nodes`) and broadcast it."""
        ...

    async def load_nodes(self) -> list[HeartbeatSeen]: ...


async def follow(
    log: TokenLog, job_id: str, after: int, idle_s: float
) -> AsyncIterator[list[StreamEntry]]:
    """Entries after `after` until the terminal one, those read together in one list;
    [] after `idle_s` without news."""
    while True:
        entries = await log.read(job_id, after, idle_s)
        ended = next((i for i, e in enumerate(entries) if e.terminal), None)
        if ended is not None:
            yield entries[: ended + 1]
            return
        yield entries
        if entries:
            after = entries[-1].seq
