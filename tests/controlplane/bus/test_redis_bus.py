"""The bus between replicas on a real Redis: a replica applies one job's events in the
order they were sent, while a slow event (a forwarded job's finish, waiting on its
commits) holds up no other job's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from infernet.controlplane.bus.events import AnyEvent, BusEvent, FromNode
from infernet.controlplane.bus.redis import RedisBus
from infernet.protocol.wire import JobFailed, JobToken
from tests.support.redis import RedisServer, throwaway_redis


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from throwaway_redis()


class Receiver:
    """A replica's handler that holds job-x's first event until `gate` opens."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.applied: list[str] = []
        self.got_y = asyncio.Event()

    async def handle(self, event: BusEvent) -> None:
        assert isinstance(event, FromNode)
        message = event.message
        if isinstance(message, JobToken) and message.job_id == "job-x":
            await self.gate.wait()
        self.applied.append(f"{message.job_id} {message.type}")
        if message.job_id == "job-y":
            self.got_y.set()


@pytest_asyncio.fixture
async def two_buses(
    redis_server: RedisServer,
) -> AsyncIterator[tuple[RedisBus, RedisBus, Receiver]]:
    receiver, listening = Receiver(), asyncio.Event()

    async def resynced() -> None:  # called once the listener has read its inbox's top
        listening.set()

    here, there = RedisBus(redis_server.url, "cp-a"), RedisBus(redis_server.url, "cp-b")
    await here.start(receiver.handle, resynced)
    await asyncio.wait_for(listening.wait(), 5)  # what is sent from now on is read
    try:
        yield here, there, receiver
    finally:
        receiver.gate.set()
        await here.stop()
        await there.stop()


def from_node(message: JobToken | JobFailed) -> AnyEvent:
    return FromNode(node_id="node-1", message=message)


async def test_a_slow_event_holds_up_only_its_own_job(
    two_buses: tuple[RedisBus, RedisBus, Receiver],
) -> None:
    here, there, receiver = two_buses
    await there.send(here.replica_id, from_node(JobToken(job_id="job-x", text="a")))
    await there.send(here.replica_id, from_node(JobToken(job_id="job-y", text="b")))
    failed = JobFailed(job_id="job-x", error="node_error", message="engine stopped")
    await there.send(here.replica_id, from_node(failed))

    await asyncio.wait_for(receiver.got_y.wait(), 5)  # while job-x's first event waits
    assert receiver.applied == ["job-y token"]
    receiver.gate.set()
    for _ in range(100):
        if len(receiver.applied) == 3:
            break
        await asyncio.sleep(0.02)
    assert receiver.applied == ["job-y token", "job-x token", "job-x failed"]
