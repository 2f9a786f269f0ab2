"""A node's channel carries all its jobs: each job's messages are applied in the order the
node sent them, while one job's slow finish (its commits) never holds up another job's
tokens; the backlog read from one channel is bounded."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from infernet.controlplane import lanes as lanes_module
from infernet.controlplane.lanes import Lanes
from infernet.protocol.keys import NodeKey
from tests.support.harness import Harness
from tests.support.signed import (
    channel,
    heartbeat_payload,
    next_message,
    register,
    signed_post,
)


async def no_error(_exc: BaseException) -> None:
    raise AssertionError("no message should fail")


def step(log: list[str], name: str, gate: asyncio.Event | None = None) -> Any:
    async def apply() -> None:
        if gate is not None:
            await gate.wait()
        log.append(name)

    return apply


async def database_away() -> None:
    raise RuntimeError("database away")


async def test_a_lanes_messages_are_applied_in_the_order_they_came() -> None:
    lanes, log = Lanes(no_error), []
    gate = asyncio.Event()
    await lanes.add("job-a", step(log, "a1", gate))
    await lanes.add("job-a", step(log, "a2"))
    await lanes.add("job-a", step(log, "a3"))
    gate.set()
    await lanes.drain()
    assert log == ["a1", "a2", "a3"]


async def test_a_slow_message_holds_up_only_its_own_lane() -> None:
    lanes, log = Lanes(no_error), []
    gate = asyncio.Event()
    await lanes.add("job-a", step(log, "a done", gate))
    await lanes.add("job-b", step(log, "b token"))
    await asyncio.sleep(0.01)
    assert log == ["b token"], "job b's token went ahead of job a's slow finish"
    gate.set()
    await lanes.drain()
    assert log == ["b token", "a done"]


async def test_reading_waits_while_the_backlog_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lanes_module, "MAX_PENDING", 3)
    lanes, log = Lanes(no_error), []
    gate = asyncio.Event()
    for n in range(3):
        await lanes.add(f"job-{n}", step(log, str(n), gate))
    fourth = asyncio.create_task(lanes.add("job-3", step(log, "3")))
    await asyncio.sleep(0.01)
    assert not fourth.done(), "a fourth message is not read while three wait"
    gate.set()
    await fourth
    await lanes.drain()
    assert sorted(log) == ["0", "1", "2", "3"]


async def test_a_message_that_fails_is_reported_and_the_lane_goes_on() -> None:
    errors: list[BaseException] = []

    async def report(exc: BaseException) -> None:
        errors.append(exc)

    lanes, log = Lanes(report), []
    await lanes.add("job-a", database_away)
    await lanes.add("job-a", step(log, "a2"))
    await lanes.drain()
    assert [str(e) for e in errors] == ["database away"] and log == ["a2"]


async def test_a_report_that_fails_too_does_not_stop_the_lane() -> None:
    async def report(_exc: BaseException) -> None:
        raise RuntimeError("the channel is already gone")

    lanes, log = Lanes(report), []
    await lanes.add("job-a", database_away)
    await lanes.add("job-a", step(log, "a2"))
    await lanes.drain()
    assert log == ["a2"]


def frame(kind: str, ids: dict[str, Any], **fields: Any) -> str:
    return json.dumps({"type": kind, **ids, **fields})


async def test_a_jobs_slow_finish_does_not_hold_up_the_tokens_of_the_nodes_other_job(
    harness: Harness,
) -> None:
    """Job a's completion write is held; job b's token, sent after a's `done` on the same
    channel, reaches b's stream meanwhile; a then completes with its own tokens."""
    jobs = harness.control_plane.services.jobs
    held = asyncio.Event()
    complete = jobs._rows.complete
    first: list[str] = []

    async def slow_complete(job_id: str, done: Any) -> bool:
        if not first:
            first.append(job_id)
            await held.wait()
        return await complete(job_id, done)

    jobs._rows.complete = slow_complete  # type: ignore[method-assign]
    key = NodeKey.generate()
    await register(harness, key)
    beat = {**heartbeat_payload(["m:1b"]), "load": {"max_concurrent_jobs": 2}}
    async with channel(harness, key) as socket:
        assert (await signed_post(harness, key, "/api/v1/heartbeat", beat)).status_code == 200
        async with harness.client() as api:
            body = {"model": "m:1b", "messages": [{"role": "user", "content": "hi"}]}
            for _ in range(2):
                assert (await api.post("/api/v1/jobs", json=body)).status_code == 202
        a, b = [await next_message(socket) for _ in range(2)]
        ids_a, ids_b = ({"job_id": m["job_id"], "attempt": m["attempt"]} for m in (a, b))
        usage = {"prompt_tokens": 1, "completion_tokens": 1}
        await socket.send(frame("token", ids_a, text="A"))
        await socket.send(frame("done", ids_a, usage=usage))
        await socket.send(frame("token", ids_b, text="B"))
        stream_b = jobs.live(ids_b["job_id"]).stream  # type: ignore[union-attr]
        await until(lambda: stream_b.pieces == ["B"])
        assert first == [ids_a["job_id"]] and not held.is_set()
        held.set()
        stream_a = jobs.live(ids_a["job_id"])
        await until(lambda: stream_a is None or stream_a.finished_at is not None)
        async with harness.client() as api:
            record = (await api.get(f"/api/v1/jobs/{ids_a['job_id']}")).json()
    assert record["status"] == "completed" and record["result"]["content"] == "A"


async def until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
