"""The bus's stores on a real Redis: a change to a node's slots or its heartbeat reaches
every other replica in the same round trip as the change itself, and a job's stream
takes a run of entries at once, stopping at the first one another writer got to first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from infernet.controlplane.bus.base import SeqConflict, StreamEntry
from infernet.controlplane.bus.events import BusEvent, HeartbeatSeen, SlotsChanged
from infernet.controlplane.bus.redis import RedisBus
from infernet.protocol.wire import Heartbeat
from tests.support.redis import RedisServer, throwaway_redis


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from throwaway_redis()


class Heard:
    """What a listening replica was told, in order."""

    def __init__(self) -> None:
        self.events: list[BusEvent] = []
        self.changed = asyncio.Event()

    async def handle(self, event: BusEvent) -> None:
        self.events.append(event)
        self.changed.set()

    async def until(self, count: int) -> list[BusEvent]:
        async with asyncio.timeout(5):
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.events


@pytest_asyncio.fixture
async def replicas(redis_server: RedisServer) -> AsyncIterator[tuple[RedisBus, RedisBus, Heard]]:
    """`here` listens; `there` changes things."""
    heard, listening = Heard(), asyncio.Event()

    async def resynced() -> None:
        listening.set()

    here, there = RedisBus(redis_server.url, "cp-a"), RedisBus(redis_server.url, "cp-b")
    await here.start(heard.handle, resynced)
    await asyncio.wait_for(listening.wait(), 5)
    try:
        yield here, there, heard
    finally:
        await here.stop()
        await there.stop()


async def test_each_change_to_a_nodes_slots_is_heard_by_the_other_replicas(
    replicas: tuple[RedisBus, RedisBus, Heard],
) -> None:
    _, there, heard = replicas
    assert await there.slots.reserve("node-1", "job-1", 2) == (True, ["job-1"])
    assert await there.slots.reserve("node-1", "job-1", 2) == (True, ["job-1"])  # held already
    assert await there.slots.reserve("node-1", "job-2", 2) == (True, ["job-1", "job-2"])
    assert await there.slots.reserve("node-1", "job-3", 2) == (False, ["job-1", "job-2"])
    assert await there.slots.release("node-1", "job-1") == ["job-2"]
    assert await there.slots.release("node-1", "job-1") == ["job-2"]  # told all the same
    assert await there.slots.release("node-1", "job-2") == []

    events = await heard.until(5)
    held = [sorted(e.jobs) for e in events if isinstance(e, SlotsChanged)]
    # each reservation that took a slot and every release, in order; an empty node is []
    assert held == [["job-1"], ["job-1", "job-2"], ["job-2"], ["job-2"], []]
    assert {e.node_id for e in events if isinstance(e, SlotsChanged)} == {"node-1"}


async def test_a_heartbeat_is_kept_as_the_nodes_hot_state_and_heard_by_the_others(
    replicas: tuple[RedisBus, RedisBus, Heard],
) -> None:
    here, there, heard = replicas
    beat = Heartbeat(version="1", backend="ollama", backend_healthy=True, served_models=[])
    seen = HeartbeatSeen(node_id="node-2", public_key="ab" * 32, seen_at=1.5, beat=beat)
    await there.publish_node(seen)

    [event] = await heard.until(1)
    assert event == seen
    assert seen in await here.load_nodes()  # what a replica that starts later catches up on


async def test_runs_of_several_jobs_are_appended_in_order_up_to_the_first_taken_seq(
    replicas: tuple[RedisBus, RedisBus, Heard],
) -> None:
    _, there, _ = replicas
    log = there.tokens
    run = [StreamEntry(1, "piece", "He"), StreamEntry(2, "piece", "llo")]
    assert await log.append([("job-9", run), ("job-8", [StreamEntry(1, "done")])]) == [None, None]
    assert await log.read("job-9", 0, 0.1) == run
    assert await log.read("job-8", 0, 0.1) == [StreamEntry(1, "done")]

    clash = [StreamEntry(2, "piece", "y"), StreamEntry(3, "done")]
    refused, written = await log.append([("job-9", clash), ("job-7", [StreamEntry(1, "done")])])
    assert isinstance(refused, SeqConflict)
    assert written is None  # one job's clash costs another's run nothing
    assert await log.last_seq("job-9") == 2  # nothing after the clash was added

    assert await log.append([("job-9", [StreamEntry(3, "done")])]) == [None]
    assert await log.read("job-9", 2, 0.1) == [StreamEntry(3, "done")]


async def test_after_redis_forgot_its_scripts_an_append_loads_the_script_again(
    replicas: tuple[RedisBus, RedisBus, Heard],
) -> None:
    _, there, _ = replicas
    await there.client.script_flush()  # as after a restart of Redis
    assert await there.tokens.append([("job-6", [StreamEntry(1, "done")])]) == [None]
    assert await there.tokens.last_seq("job-6") == 1
