"""Redis restarted or stalled under a running replica: the connections pooled before a
restart are replaced when next used, so no command fails for having drawn one of them;
a command Redis does not answer fails after the reply wait (its caller then takes its
fallback), and a stream read that waits longer than that still waits as long as asked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from redis.exceptions import TimeoutError as RedisTimeout

from infernet.controlplane.bus import redis as redis_bus
from infernet.controlplane.bus.base import StreamEntry
from infernet.controlplane.bus.redis import RedisBus, connect
from tests.support.redis import RedisServer, throwaway_redis

NODES = 20


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    yield from throwaway_redis()


async def reserve_on_every_node(bus: RedisBus, job_id: str) -> list[object]:
    """One reservation per node, all at once: each on a pooled connection of its own."""
    calls = (bus.slots.reserve(f"node-{i}", job_id, 1) for i in range(NODES))
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_connections_pooled_before_a_redis_restart_are_replaced_not_failed(
    redis_server: RedisServer,
) -> None:
    bus = RedisBus(redis_server.url, "cp-a")
    try:
        assert await reserve_on_every_node(bus, "job-1") == [(True, ["job-1"])] * NODES
        redis_server.stop()
        redis_server.start()  # empty: the slot sets and the scripts are gone
        await asyncio.sleep(0.5)  # well after the restart, as a quiet replica would be
        assert await reserve_on_every_node(bus, "job-2") == [(True, ["job-2"])] * NODES
    finally:
        await bus.stop()


async def test_a_command_redis_does_not_answer_fails_after_the_reply_wait(
    redis_server: RedisServer,
) -> None:
    client = connect(redis_server.url, reply_wait_s=0.5)
    try:
        assert await client.ping()
        redis_server.pause()
        try:
            started = time.monotonic()
            with pytest.raises(RedisTimeout):
                async with asyncio.timeout(5):  # the old client waited for good
                    await client.set("k", "v")
            assert time.monotonic() - started < 2
        finally:
            redis_server.resume()
        assert await client.ping()
    finally:
        await client.aclose()


async def test_a_stream_read_waits_as_long_as_asked_in_steps_within_the_reply_wait(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_bus, "BLOCK_STEP_S", 0.2)
    bus = RedisBus(redis_server.url, "cp-a")
    try:
        started = time.monotonic()
        assert await bus.tokens.read("job-1", 0, 0.7) == []
        assert time.monotonic() - started >= 0.7, "not [] at the first step's end"

        async def later() -> None:
            await asyncio.sleep(0.5)
            await bus.tokens.append([("job-1", [StreamEntry(1, "piece", "hi")])])

        writer = asyncio.create_task(later())
        started = time.monotonic()
        assert await bus.tokens.read("job-1", 0, 3.0) == [StreamEntry(1, "piece", "hi")]
        assert time.monotonic() - started < 1.5, "returned when the entry came"
        await writer
    finally:
        await bus.stop()
