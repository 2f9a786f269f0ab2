"""A replica whose shared slot book fails (Redis restarting, a stale connection) takes
no slot and says so, as when another replica took the last one: the job manager keeps
the job queued for the next dispatch pass. Raised, the error dropped the job from the
queue for good (and answered a submit with a 500 for a job it then kept). A release it
fails is tried again in the background: the job's end does not wait for Redis (raised,
the error skipped the job's settlement and its stream's end), and the slot is freed."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from infernet.controlplane.jobs import cluster as cluster_module
from infernet.controlplane.nodes.registry import NodeState
from tests.support.cluster import shared_cluster


class FlakySlots:
    """The shared slot book, failing its first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.released: list[str] = []

    def _fail_first(self) -> None:
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("Connection closed by server.")

    async def reserve(self, node_id: str, job_id: str, capacity: int) -> tuple[bool, list[str]]:
        self._fail_first()
        return True, [job_id]

    async def release(self, node_id: str, job_id: str) -> list[str]:
        self._fail_first()
        self.released.append(job_id)
        return []


async def test_a_reservation_the_slot_book_failed_takes_nothing_and_the_next_one_works() -> None:
    cluster = shared_cluster(slots=FlakySlots(failures=1))
    node = NodeState("node-1", "ab" * 32, max_concurrent=1)

    assert await cluster.reserve(node, "job-1") is False  # not raised: the job stays queued
    assert node.active_jobs == set()
    assert await cluster.reserve(node, "job-1") is True  # the next pass
    assert node.active_jobs == {"job-1"}


async def test_a_release_the_slot_book_failed_is_tried_again_without_holding_up_the_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cluster_module, "RELEASE_RETRY_S", 0.01)
    slots = FlakySlots(failures=1)
    cluster = shared_cluster(slots=slots)

    await cluster.release("node-1", "job-1")  # returns: not raised
    assert slots.released == []
    for _ in range(100):
        if slots.released:
            break
        await asyncio.sleep(0.01)
    assert slots.released == ["job-1"]
    await cluster.stop()
