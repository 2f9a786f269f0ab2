"""The bus across control-plane replicas, on Redis.

Keys (all under `infernet:`):
- `job:{id}`: the job's token stream, a Redis Stream whose entry ids are `0-{seq}`, so the
  SSE id of an entry is the same on every replica and `XREAD` after `0-{n}` resumes
  exactly after event n; a second writer of the same seq is refused by Redis itself.
- `slots:{node}`: the set of jobs holding the node's slots; changed by Lua scripts that
  check the cap, change the set and broadcast the change (`SlotsChanged`) in one step.
- `channels`: hash node id -> replica holding its job channel.
- `nodes`: hash node id -> its last heartbeat as received (hot state, one field per node,
  overwritten: no row per beat), saved and broadcast in one round trip.
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
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError
from redis.maint_notifications import MaintNotificationsConfig

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
# A reply not come this long after its command is an error (`TimeoutError`, a RedisError:
# callers take their fallbacks), not a wait for as long as TCP keeps a silent connection.
# Blocking reads block for at most `BLOCK_STEP_S` at a time, well within it.
REPLY_WAIT_S = 10.0
BLOCK_STEP_S = 5.0

# The slot scripts tell every replica the node's slots in the same step as they change
# them (a `SlotsChanged` on the broadcast stream): one round trip, and the broadcasts
# come in the order of the changes. A release tells even when the job held no slot: the
# sets are lost with a restart of Redis, and a replica still counting a finished job on
# a node would never route to it again if no one told it. KEYS: the node's slot set,
# the broadcast stream; ARGV: the job, the cap (reserve only), this replica, the node,
# the stream's length.
TELL = """
local function tell(held)
  local jobs = '[]'
  if #held > 0 then jobs = cjson.encode(held) end
  local event = '{"kind":"slots","node_id":' .. cjson.encode(ARGV[4])
    .. ',"jobs":' .. jobs .. '}'
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'o', ARGV[3], 'e', event)
  return held
end
"""
RESERVE = (
    TELL
    + """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return {1, redis.call('SMEMBERS', KEYS[1])}
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return {0, redis.call('SMEMBERS', KEYS[1])}
end
redis.call('SADD', KEYS[1], ARGV[1])
return {1, tell(redis.call('SMEMBERS', KEYS[1]))}
"""
)
RELEASE = (
    TELL
    + """
redis.call('SREM', KEYS[1], ARGV[1])
return tell(redis.call('SMEMBERS', KEYS[1]))
"""
)
# A job stream's entries in order, each XADD refused if its seq is not after the last;
# the first refusal stops the rest. KEYS: the stream; ARGV: its ttl, then seq, kind,
# text, code per entry. Returns how many were added and the refusal ('' if none).
APPEND = """
local added, refused = 0, ''
for i = 2, #ARGV, 4 do
  local reply = redis.pcall('XADD', KEYS[1], '0-' .. ARGV[i],
    'k', ARGV[i + 1], 't', ARGV[i + 2], 'c', ARGV[i + 3])
  if type(reply) == 'table' and reply.err then
    refused = reply.err
    break
  end
  added = added + 1
end
if added > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {added, refused}
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
        self._append_sha = redis.register_script(APPEND).sha

    async def append(self, runs: list[tuple[str, list[StreamEntry]]]) -> list[Exception | None]:
        replies = await self._appends(runs)
        if any(isinstance(r, NoScriptError) for r in replies):  # Redis restarted: load it
            await self._r.script_load(APPEND)
            replies = await self._appends(runs)
        outcomes: list[Exception | None] = []
        for (job_id, entries), reply in zip(runs, replies, strict=True):
            if isinstance(reply, Exception):
                outcomes.append(reply)
                continue
            added, refused = reply
            if refused:  # entries[added] was refused, and nothing after it added
                seq = entries[int(added)].seq
                outcomes.append(SeqConflict(f"job {job_id}: seq {seq}: {refused}"))
            else:
                outcomes.append(None)
        return outcomes

    async def _appends(self, runs: list[tuple[str, list[StreamEntry]]]) -> list[Any]:
        """One round trip: the `APPEND` script once per run, by its digest."""
        if not runs:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for job_id, entries in runs:
                ttl = RETAIN_S if entries[-1].terminal else SAFETY_TTL_S
                args: list[str | int] = [ttl]
                for entry in entries:
                    args += [entry.seq, entry.kind, entry.text, entry.code]
                pipe.evalsha(self._append_sha, 1, f"{P}job:{job_id}", *args)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies

    async def read(self, job_id: str, after: int, block_s: float) -> list[StreamEntry]:
        key, deadline = f"{P}job:{job_id}", time.monotonic() + block_s
        while True:  # in steps, each within the reply wait
            left = min(BLOCK_STEP_S, deadline - time.monotonic())
            block = max(1, int(left * 1000))
            reply = await self._r.xread({key: f"0-{after}"}, count=1000, block=block)
            entries = [_entry(entry_id, f) for _key, items in reply or [] for entry_id, f in items]
            if entries or time.monotonic() >= deadline:
                return entries

    async def last_seq(self, job_id: str) -> int:
        items = await self._r.xrevrange(f"{P}job:{job_id}", count=1)
        return _seq(items[0][0]) if items else 0

    async def retire(self, job_id: str, ttl_s: float) -> None:
        await self._r.expire(f"{P}job:{job_id}", max(1, int(ttl_s)))


class RedisSlotBook:
    def __init__(self, redis: Redis, replica_id: str) -> None:
        self._reserve = redis.register_script(RESERVE)
        self._release = redis.register_script(RELEASE)
        self._origin = replica_id  # ARGV[3] of the slot scripts: this replica

    def _keys(self, node_id: str) -> list[str]:
        return [f"{P}slots:{node_id}", f"{P}broadcast"]

    async def reserve(self, node_id: str, job_id: str, capacity: int) -> tuple[bool, list[str]]:
        args: list[str | int] = [job_id, capacity, self._origin, node_id, INBOX_MAXLEN]
        taken, held = await self._reserve(keys=self._keys(node_id), args=args)
        return bool(taken), sorted(held)

    async def release(self, node_id: str, job_id: str) -> list[str]:
        args: list[str | int] = [job_id, "", self._origin, node_id, INBOX_MAXLEN]
        held = await self._release(keys=self._keys(node_id), args=args)
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


def connect(url: str, reply_wait_s: float = REPLY_WAIT_S) -> Redis:
    """A client for `url` whose pool never hands out a connection Redis has closed, and
    whose commands fail after `reply_wait_s` without a reply.

    The pool checks each idle connection before handing it out (EOF seen: reconnect),
    but redis-py 8 skips that check while maintenance notifications (a Redis Enterprise
    feature) are on, and they are on ("auto") by default. So after a restart of Redis
    every connection pooled before it failed its next command with `Connection closed by
    server`, however long afterwards it was next used: a client made by `from_url` retries
    nothing. Nor is anything retried here: a nonce or a stream append that Redis applied
    before its reply was lost would, sent again, read as a replay or a clash."""
    off = MaintNotificationsConfig(enabled=False)
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=reply_wait_s,
        maint_notifications_config=off,
    )


class RedisBus:
    shared = True

    def __init__(self, url: str, replica_id: str | None = None) -> None:
        self.replica_id = replica_id or new_id("cp")
        self._redis = connect(url)
        self._r: Any = self._redis  # redis-py's reply types are loose; parsed right here
        self.tokens: TokenLog = RedisTokenLog(self._redis)
        self.slots: SlotBook = RedisSlotBook(self._redis, self.replica_id)
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

    def _post(self, target: Any, key: str, raw: str) -> Any:
        """The `XADD` of an event (`raw`, its JSON) from this replica to stream `key`, on
        `target`: the client (await the result) or a pipeline (queued)."""
        fields = {"o": self.replica_id, "e": raw}
        return target.xadd(key, fields, maxlen=INBOX_MAXLEN, approximate=True)

    async def broadcast(self, event: BusEvent) -> None:
        await self._post(self._r, f"{P}broadcast", event.model_dump_json())

    async def send(self, replica_id: str, event: BusEvent) -> None:
        await self._post(self._r, f"{P}replica:{replica_id}", event.model_dump_json())

    async def publish_node(self, seen: HeartbeatSeen) -> None:
        raw = seen.model_dump_json()
        async with self._r.pipeline(transaction=False) as pipe:  # one round trip
            pipe.hset(f"{P}nodes", seen.node_id, raw)
            self._post(pipe, f"{P}broadcast", raw)
            await pipe.execute()

    async def load_nodes(self) -> list[HeartbeatSeen]:
        raw: dict[str, str] = await self._r.hgetall(f"{P}nodes")
        return [HeartbeatSeen.model_validate_json(v) for v in raw.values()]

    @property
    def client(self) -> Redis:
        """The connection pool, shared with the rate limiter."""
        return self._redis


async def _logged_already(_exc: BaseException) -> None:
    """A bus event that failed to apply is logged by its lane; nothing more to do."""
