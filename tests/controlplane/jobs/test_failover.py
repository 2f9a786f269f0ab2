"""Jobs survive their node: they continue elsewhere without repeating a token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from infernet.controlplane.settings import Settings
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store.jobs import JobRecord
from tests.e2e.sse import SseResult, read_sse
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend

MESSAGES = [{"role": "user", "content": "Count to six."}]
FIRST = ["one", " two", " three", " four", " five", " six"]
REST = [" seven", " eight"]


async def stream_job(harness: Harness, on_tokens: int, action: object) -> SseResult:
    """Stream a job; after `on_tokens` tokens have arrived, await `action()`."""
    result = SseResult()
    async with (
        harness.client() as api,
        api.stream(
            "POST",
            "/api/v1/jobs",
            json={"model": "m:1b", "messages": MESSAGES, "stream": True, "max_tokens": 100},
        ) as resp,
    ):
        lines = resp.aiter_lines()
        async for line in lines:
            if line.startswith('data: {"text"'):
                result.texts.append(line)
                if len(result.texts) == on_tokens:
                    await action()  # type: ignore[operator]
                    break
        rest = await read_sse_lines(lines)
    result.texts = [json.loads(t.removeprefix("data: "))["text"] for t in result.texts]
    result.texts += rest.texts
    result.done, result.error = rest.done, rest.error
    return result


async def read_sse_lines(lines: object) -> SseResult:
    class _Lines:
        def aiter_lines(self) -> object:
            return lines

    return await read_sse(_Lines())  # type: ignore[arg-type]


async def latest_job(harness: Harness) -> dict[str, object]:
    async with harness.client() as api:
        job: dict[str, object] = (await api.get("/api/v1/jobs")).json()["jobs"][0]
        return job


async def test_a_node_lost_mid_stream_is_continued_by_another(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        first = ScriptedBackend(["m:1b"], tokens=FIRST, delay_s=0.2)
        await harness.add_node(first)
        second = ScriptedBackend(["m:1b"], tokens=REST)

        async def lose_first_node() -> None:
            await harness.add_node(second)
            await harness.nodes[0].stop()

        result = await stream_job(harness, 2, lose_first_node)

    assert result.done and result.error is None
    # The first node may stream a token or two more before it is gone: whatever the client
    # got from it is the prefix the second node continues, nothing repeated, nothing lost.
    prefix = result.texts[: len(result.texts) - len(REST)]
    assert len(prefix) >= 2 and prefix == FIRST[: len(prefix)]
    assert result.texts[len(prefix) :] == REST
    continued = second.requests[0]
    assert continued.messages[-1].role == "assistant"
    assert continued.messages[-1].content == "".join(prefix)
    assert continued.max_tokens == 100 - len(prefix)


async def test_the_job_records_what_each_node_produced(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        await harness.add_node(ScriptedBackend(["m:1b"], tokens=FIRST, delay_s=0.2))
        second = ScriptedBackend(["m:1b"], tokens=REST)

        async def lose_first_node() -> None:
            await harness.add_node(second)
            await harness.nodes[0].stop()

        result = await stream_job(harness, 3, lose_first_node)
        job = await latest_job(harness)
        row = await harness_job_row(harness, str(job["id"]))
    assert job["status"] == "completed"
    assert job["node_id"] == harness.nodes[1].node_id
    segments = row.segments
    assert segments is not None
    assert [s["node_id"] for s in segments] == [harness.nodes[0].node_id, harness.nodes[1].node_id]
    from_first = len(result.texts) - len(REST)
    assert from_first >= 3
    assert segments[0]["completion_tokens"] == from_first
    assert segments[0]["usage_source"] == "stream_count"
    assert segments[1]["completion_tokens"] == len(REST)
    assert job["result"]["usage"]["completion_tokens"] == from_first + len(REST)  # type: ignore[index]


async def harness_job_row(harness: Harness, job_id: str) -> JobRecord:
    record = await job_store.get(harness.control_plane.services.db, job_id)
    assert record is not None
    return record


async def test_a_stalled_node_is_taken_off_the_job(tmp_path: Path) -> None:
    async with running(tmp_path, Settings(stall_timeout_s=0.5)) as harness:
        stuck = ScriptedBackend(["m:1b"], tokens=["one", " two", " three"], delay_s=30)
        await harness.add_node(stuck)
        second = ScriptedBackend(["m:1b"], tokens=REST)

        async with harness.client() as api:
            created = (
                await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})
            ).json()
            await asyncio.sleep(0.1)
            await harness.add_node(second)
            for _ in range(100):
                job = (await api.get(f"/api/v1/jobs/{created['id']}")).json()
                if job["status"] == "completed":
                    break
                await asyncio.sleep(0.1)
    assert job["status"] == "completed"
    assert job["result"]["content"] == "".join(REST)
    assert job["node_id"] == harness.nodes[1].node_id


async def test_a_job_pinned_to_a_node_whose_engine_goes_down_fails_with_the_reason(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as harness:
        await harness.add_node(ScriptedBackend(["m:1b"], tokens=FIRST, fail_after=2))
        healthy = ScriptedBackend(["m:1b"], tokens=REST)
        await harness.add_node(healthy)
        async with (
            harness.client() as api,
            api.stream(
                "POST",
                "/api/v1/jobs",
                json={
                    "model": "m:1b",
                    "messages": MESSAGES,
                    "stream": True,
                    "node_id": harness.nodes[0].node_id,
                },
            ) as response,
        ):
            pinned = await read_sse(response)
    # A pinned job may only run on its node: it fails with the engine's reason.
    assert pinned.error is not None and pinned.error["error"] == "backend_unavailable"
    assert healthy.requests == []


async def test_an_engine_going_down_mid_stream_is_continued_elsewhere(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        failing = ScriptedBackend(["m:1b"], tokens=FIRST, delay_s=0.2)
        await harness.add_node(failing)
        healthy = ScriptedBackend(["m:1b"], tokens=REST)

        async def second_node_then_engine_failure() -> None:
            await harness.add_node(healthy)
            failing.fail_now.set()

        result = await stream_job(harness, 1, second_node_then_engine_failure)
    assert result.done and result.error is None
    prefix = result.texts[: len(result.texts) - len(REST)]
    assert prefix == FIRST[: len(prefix)] and result.texts[len(prefix) :] == REST
    assert healthy.requests[0].messages[-1].content == "".join(prefix)
