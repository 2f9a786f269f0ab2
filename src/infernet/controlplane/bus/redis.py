"""The bus across control-plane replicas, on Redis.

Keys (all under `infernet:`):
- `job:{id}`: the job's token stream, a Redis Stream whose entry ids are `0-{seq}`, so the
  SSE id of an entry is the same on every replica and `XREAD` after `0-{n}` resumes
  exactly after event n; a second writer of the same seq is refused by Redis itself.
- `slots:{node}`: the set of jobs holding the node's slots; reserved by a Lua script that
  checks the cap and adds in one step.
- `channels`: hash node id -> replica holding its job channel.
- `nodes`: hash node id -> its last heartbeat as received (hot state, one field per node,
  overwritten: no row per beat).
- `replica:{id}`: a stream per replica for messages addressed to it; `broadcast`: one
  stream every replica reads. Streams, not pub/sub, so a short disconnect loses nothing;
  after a Redis restart the replica resyncs from the hashes. Read events are applied
  through lanes (controlplane/lanes.py): each job's, node's or key's in order, different
  ones side by side, so a forwarded job's finish (its commits) holds up no assignment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from infernet.controlplane.bus.base import (
    ChannelMap,
    EntryKind,
    Handler,
    SeqConflict,
    SlotBook,
    StreamEntry,
    TokenLog,
)
from infernet.controlplane.bus.events import BusEvent, HeartbeatSeen, bus_event_adapter, lane
from infernet.controlplane.lanes import Lanes
from infernet.controlplane.store.ids import new_id

log = logging.getLogger("infernet.bus")
P = "infernet:"
SAFETY_TTL_S = 6 * 3600  # a job's stream is dropped this long after its last entry at most
INBOX_MAXLEN = 100_000
RETAIN_S = 600  # a finished job's stream stays readable (and resumable) this long
STOP_DRAIN_S = 5.0  # on stop, events already read get this long to be applied

RESERVE = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return {1, redis.call('SMEMBERS', KEYS[1])}
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return {0, redis.call('SMEMBERS', KEYS[1])}
end
redis.call('SADD', KEYS[1], ARGV[1])
return {1, redis.call('SMEMBERS', KEYS[1])}
"""
RELEASE_IF = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


def _seq(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[1])


def _entry(entry_id: str, fields: dict[str, str]) -> StreamEntry:
    kind = fields.get("k")
    if kind not in ("piece", "done", "error"):
        raise ValueError(f"stream entry {entry_id} has no valid kind: {kind!r}")
    return StreamEntry(
        _seq(entry_id), cast(EntryKind, kind), fields.get("t", ""), fields.get("c", "")
    )


class RedisTokenLog:
    def __init__(self, redis: Redis) -> None:
        self._r: Any = redis  # redis-py's reply types are loose; parsed right here

    async def append(self, job_id: str, entry: StreamEntry) -> None:
        key = f"{P}job:{job_id}"
        fields = {"k": entry.kind, "t": entry.text, "c": entry.code}
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.xadd(key, fields, id=f"0-{entry.seq}")
                pipe.expire(key, RETAIN_S if entry.terminal else SAFETY_TTL_S)
                await pipe.execute()
        except ResponseError as exc:
            raise SeqConflict(f"job {job_id}: seq {entry.seq}: {exc}") from exc

    async def read(self, job_id: str, after: int, block_s: float) -> list[StreamEntry]:
        block = max(1, int(block_s * 1000))
        reply = await self._r.xread({f"{P}job:{job_id}": f"0-{after}"}, count=1000, block=block)
        entries = []
        for _key, items in reply or []:
            for entry_id, f in items:
                entries.append(_entry(entry_id, f))
        return entries

    async def last_seq(self, job_id: str) -> int:
        items = await self._r.xrevrange(f"{P}job:{job_id}", count=1)
        return _seq(items[0][0]) if items else 0

    async def retire(self, job_id: str, ttl_s: float) -> None:
        await self._r.expire(f"{P}job:{job_id}", max(1, int(ttl_s)))


class RedisSlotBook:
    def __init__(self, redis: Redis) -> None:
        self._r: Any = redis  # redis-py's reply types are loose; parsed right here
        self._reserve = redis.register_script(RESERVE)

    async def reserve(self, node_id: str, job_id: str, capacity: int) -> tuple[bool, list[str]]:
        taken, held = await self._reserve(keys=[f"{P}slots:{node_id}"], args=[job_id, capacity])
        return bool(taken), sorted(held)

    async def release(self, node_id: str, job_id: str) -> list[str]:
        key = f"{P}slots:{node_id}"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.srem(key, job_id)
            pipe.smembers(key)
            _, held = await pipe.execute()
        return sorted(held)


class RedisChannelMap:
    def __init__(self, redis: Redis) -> None:
        self._r: Any = redis  # redis-py's reply types are loose; parsed right here
        self._release = redis.register_script(RELEASE_IF)

    async def claim(self, node_id: str, replica_id: str) -> None:
        await self._r.hset(f"{P}channels", node_id, replica_id)

    async def release(self, node_id: str, replica_id: str) -> bool:
        return bool(await self._release(keys=[f"{P}channels"], args=[node_id, replica_id]))

    async def where(self, node_id: str) -> str | None:
        found: str | None = await self._r.hget(f"{P}channels", node_id)
        return found

    async def all(self) -> dict[str, str]:
        found: dict[str, str] = await self._r.hgetall(f"{P}channels")
        return found


class RedisBus:
    shared = True

    def __init__(self, url: str, replica_id: str | None = None) -> None:
        self.replica_id = replica_id or new_id("cp")
        self._redis = Redis.from_url(url, decode_responses=True, socket_connect_timeout=2)
        self._r: Any = self._redis  # redis-py's reply types are loose; parsed right here
        self.tokens: TokenLog = RedisTokenLog(self._redis)
        self.slots: SlotBook = RedisSlotBook(self._redis)
        self.channels: ChannelMap = RedisChannelMap(self._redis)
        self._inbox = f"{P}replica:{self.replica_id}"
        self._task: asyncio.Task[None] | None = None
        self._lanes = Lanes(_logged_already)

    async def start(self, handler: Handler, on_resync: Callable[[], Awaitable[None]]) -> None:
        self._task = asyncio.create_task(self._listen(handler, on_resync), name="bus-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lanes.drain(), STOP_DRAIN_S)
        with contextlib.suppress(RedisError):
            await self._r.delete(self._inbox)
        await self._r.aclose()

    async def _tops(self) -> dict[str, str]:
        tops: dict[str, str] = {}
        for key in (self._inbox, f"{P}broadcast"):
            items = await self._r.xrevrange(key, count=1)
            tops[key] = items[0][0] if items else "0-0"
        return tops

    async def _listen(self, handler: Handler, on_resync: Callable[[], Awaitable[None]]) -> None:
        delay = 0.2
        while True:
            try:
                cursors = await self._tops()
                await self._lanes.drain()  # what was read before is applied before resync
                await on_resync()
                delay = 0.2
                while True:
                    await self._read_once(cursors, handler)
            except (RedisError, OSError) as exc:
                log.warning("bus connection lost; retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _read_once(self, cursors: dict[str, str], handler: Handler) -> None:
        reply = await self._r.xread(cursors, count=500, block=1000)
        for key, items in reply or []:
            for entry_id, fields in items:
                cursors[key] = entry_id
                if fields.get("o") == self.replica_id:
                    continue  # our own broadcast
                try:
                    event = bus_event_adapter.validate_json(fields.get("e", ""))
                except ValueError:
                    log.exception("bus event unreadable", extra={"entry": entry_id})
                    continue
                await self._lanes.add(lane(event), partial(handler, event))

    async def broadcast(self, event: BusEvent) -> None:
        fields = {"o": self.replica_id, "e": event.model_dump_json()}
        await self._r.xadd(f"{P}broadcast", fields, maxlen=INBOX_MAXLEN, approximate=True)

    async def send(self, replica_id: str, event: BusEvent) -> None:
        fields = {"o": self.replica_id, "e": event.model_dump_json()}
        key = f"{P}replica:{replica_id}"
        await self._r.xadd(key, fields, maxlen=INBOX_MAXLEN, approximate=True)

    async def save_node(self, seen: HeartbeatSeen) -> None:
        await self._r.hset(f"{P}nodes", seen.node_id, seen.model_dump_json())

    async def load_nodes(self) -> list[HeartbeatSeen]:
        raw: dict[str, str] = await self._r.hgetall(f"{P}nodes")
        return [HeartbeatSeen.model_validate_json(v) for v in raw.values()]

    @property
    def client(self) -> Redis:
        """The connection pool, shared with the rate limiter."""
        return self._redis


async def _logged_already(_exc: BaseException) -> None:
    """A bus event that failed to apply is logged by its lane; nothing more to do."""
