"""The job lifecycle as clients see it, with real node daemons on scripted engines."""

from __future__ import annotations

import asyncio

from tests.e2e.sse import read_sse
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

MESSAGES = [{"role": "user", "content": "capital of France?"}]


async def wait_final(harness: Harness, job_id: str) -> dict[str, object]:
    async with harness.client() as api:
        for _ in range(200):
            job: dict[str, object] = (await api.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] in ("completed", "failed"):
                return job
            await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished")


async def test_a_job_streams_the_engines_tokens_and_records_its_usage(harness: Harness) -> None:
    backend = ScriptedBackend(["m:1b"])
    await harness.add_node(backend)
    async with (
        harness.client() as api,
        api.stream(
            "POST", "/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES, "stream": True}
        ) as response,
    ):
        result = await read_sse(response)
    assert result.texts == backend.tokens and result.done
    async with harness.client() as api:
        job = (await api.get("/api/v1/jobs")).json()["jobs"][0]
    assert job["result"]["usage"]["completion_tokens"] == len(backend.tokens)


async def test_jobs_wait_for_a_free_slot_and_then_run(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"], delay_s=0.05))
    async with harness.client() as api:
        ids = [
            (await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})).json()[
                "id"
            ]
            for _ in range(3)
        ]
        queued = (await api.get(f"/api/v1/jobs/{ids[2]}")).json()
    assert queued["status"] == "pending" and queued["queue_position"] is not None
    for job_id in ids:
        assert (await wait_final(harness, job_id))["status"] == "completed"


async def test_an_engine_failure_on_the_only_node_waits_for_the_engine_and_continues(
    harness: Harness,
) -> None:
    backend = ScriptedBackend(["m:1b"], fail_after=2, failures=1)
    await harness.add_node(backend)
    async with (
        harness.client() as api,
        api.stream(
            "POST", "/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES, "stream": True}
        ) as response,
    ):
        result = await read_sse(response)
    assert result.texts == ["Paris", " is", " the", " capital", "."] and result.done
    continued = backend.requests[1].messages[-1]
    assert (continued.role, continued.content) == ("assistant", "Paris is")


async def test_an_engine_that_keeps_failing_ends_the_job_with_an_error_event_without_done(
    harness: Harness,
) -> None:
    backend = ScriptedBackend(["m:1b"], fail_after=2)
    await harness.add_node(backend)
    async with (
        harness.client() as api,
        api.stream(
            "POST", "/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES, "stream": True}
        ) as response,
    ):
        result = await read_sse(response)
    assert result.texts == ["Paris", " is"], "continued, never repeated"
    assert not result.done
    assert result.error is not None and result.error["error"] == "backend_unavailable"
    assert "failed 3 times" in result.error["message"]
    assert len(backend.requests) == 3  # max_attempts


async def test_others_jobs_are_invisible(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    other_key = await harness.control_plane.create_client_key("someone else")
    async with harness.client() as api:
        job_id = (
            await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})
        ).json()["id"]
    async with harness.client(other_key) as other:
        response = await other.get(f"/api/v1/jobs/{job_id}")
        stream = await other.get(f"/api/v1/jobs/{job_id}/stream")
    assert response.status_code == stream.status_code == 404


async def test_bad_input_gets_the_envelope_and_no_job(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    async with harness.client() as api:
        cases = [
            {"model": "m:1b"},
            {"model": "m:1b", "messages": []},
            {"model": "m:1b", "messages": MESSAGES, "temperature": 3},
            {"model": "m:1b", "messages": MESSAGES, "max_tokens": 10**9},
            {"model": "m:1b", "messages": [{"role": "wizard", "content": "hi"}]},
            {"model": "m:1b", "messages": [{"role": "user", "content": "  "}]},
        ]
        for body in cases:
            response = await api.post("/api/v1/jobs", json=body)
            assert response.status_code == 400, body
            assert response.json()["error"] == "bad_request"
            assert response.json()["error_message"]
        malformed = await api.post(
            "/api/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400
        assert (await api.get("/api/v1/jobs")).json()["jobs"] == []


async def test_a_node_learns_why_it_was_passed_over(harness: Harness) -> None:
    """Its owner does (the public sees only its status: tests/security/test_ownership.py)."""
    fast = ScriptedBackend(["m:1b"])
    await harness.add_node(fast, max_concurrent_jobs=1)
    busy = ScriptedBackend(["m:1b"], delay_s=0.3)
    busy_node = await harness.add_node(busy, max_concurrent_jobs=1, owner=harness.api_key)
    async with harness.client() as api:
        ids = [
            (await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})).json()[
                "id"
            ]
            for _ in range(4)
        ]
        for job_id in ids:
            await wait_final(harness, job_id)
        await api.post("/api/v1/jobs", json={"model": "other:7b", "messages": MESSAGES})
        status = (await api.get(f"/api/v1/nodes/{busy_node.node_id}/status")).json()
    assert status["status"] == "online"
    why = status["why_no_jobs"]
    assert why["reasons"], "passed over at least once while the other node was chosen"
    assert {r["reason"] for r in why["reasons"]} <= {"busy", "slower", "model_cold"}
    assert all(r["count"] > 0 and r["advice"] for r in why["reasons"])
