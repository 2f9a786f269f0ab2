"""A restart of Redis under a running replica: the connections pooled before it are
replaced when next used, so no command fails for having drawn one of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from infernet.controlplane.bus.redis import RedisBus
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
