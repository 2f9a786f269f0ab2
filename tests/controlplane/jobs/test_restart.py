"""A control plane that stops (or crashes) and starts again on the same database, one
process, on SQLite and PostgreSQL (the SIGKILL loop is tests/chaos/test_cp_crash.py):

- every job it had accepted runs again or ends: waiting ones in their order, a running
  one continued from what its stream had stored, its hold settled once; the job timeout
  still counts from submission;
- a stream read before the restart resumes after it with `Last-Event-ID`, exactly;
- its nodes are routable as soon as their channels reopen (the hello carries their
  state; no heartbeat needed), and until then a model only they serve answers a
  retryable 503, not 404;
- an attempt a node still runs from before the restart is stopped, and the job's next
  attempt is a new one (never confused with it);
- a signed request replayed after the restart is refused, as before it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import select

from infernet.controlplane.money.ledger import client_held
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.tables import jobs, ledger_transactions, nodes
from infernet.protocol.keys import NodeKey
from infernet.protocol.signing import sign_request
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend
from tests.support.signed import body_of, heartbeat_payload, register

MODEL = "m:1b"
TOKENS = [f"t{i} " for i in range(8)]


@pytest_asyncio.fixture
async def paid(tmp_path: Path, database_url: str | None) -> AsyncIterator[Harness]:
    settings = Settings(payments_enabled=True, platform_key_path=str(tmp_path / "platform.key"))
    async with running(tmp_path, settings, database_url) as harness:
        yield harness


def job_body() -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "go"}], "max_tokens": 50}


async def submit(api: httpx.AsyncClient) -> str:
    reply = await api.post("/api/v1/jobs", json=job_body())
    assert reply.status_code == 202, reply.text
    job_id: str = reply.json()["id"]
    return job_id


async def wait_final(api: httpx.AsyncClient, job_id: str, timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            job: dict[str, Any] = (await api.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] in ("completed", "failed"):
                return job
            await asyncio.sleep(0.05)


async def events_of(resp: httpx.Response, stop_after: int | None = None) -> list[tuple[int, str]]:
    """(id, data) of the response's SSE events; `stop_after`: leave after that many, as a
    client whose connection broke."""
    assert resp.status_code == 200
    events: list[tuple[int, str]] = []
    event_id = 0
    async for line in resp.aiter_lines():
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            events.append((event_id, line[6:]))
            if stop_after is not None and len(events) >= stop_after:
                break
    return events


async def read_events(api: httpx.AsyncClient, job_id: str, after: int) -> list[tuple[int, str]]:
    """The job's SSE events after event `after` (a resume with Last-Event-ID)."""
    headers = {"Last-Event-ID": str(after)}
    async with api.stream("GET", f"/api/v1/jobs/{job_id}/stream", headers=headers) as resp:
        return await events_of(resp)


def text_of(events: list[tuple[int, str]]) -> str:
    return "".join(json.loads(d)["text"] for _, d in events if d.startswith('{"text"'))


async def rows(harness: Harness, *columns: Any) -> list[Any]:
    async with harness.control_plane.services.db.connect() as conn:
        return list((await conn.execute(select(*columns))).all())


async def test_jobs_it_left_run_again_in_order_and_a_stream_resumes_exactly(
    paid: Harness,
) -> None:
    backend = ScriptedBackend([MODEL], tokens=TOKENS, delay_s=0.15)
    await paid.add_node(backend)
    async with paid.client() as api:
        streamed = {**job_body(), "stream": True}
        async with api.stream("POST", "/api/v1/jobs", json=streamed) as resp:
            running_id = resp.headers["X-Infernet-Job-Id"]  # what to resume if it breaks
            waiting = [await submit(api) for _ in range(3)]
            seen = await events_of(resp, stop_after=2)  # then the connection broke
    assert [event_id for event_id, _ in seen] == [1, 2]

    await paid.restart()

    async with paid.client() as api:
        rest = await read_events(api, running_id, after=2)
        finals = [await wait_final(api, job_id) for job_id in [running_id, *waiting]]
    assert rest[-1][1] == "[DONE]"
    assert [event_id for event_id, _ in rest] == list(range(3, 3 + len(rest)))
    assert text_of(seen) + text_of(rest) == finals[0]["result"]["content"]
    assert all(job["status"] == "completed" for job in finals)
    started = sorted(finals[1:], key=lambda job: job["started_at"])
    assert [job["id"] for job in started] == waiting  # still in submission order
    # Each job settled once (settlement follows the completed status by a moment), and no
    # money is left held.
    async with asyncio.timeout(10):
        while True:
            kinds = await rows(paid, ledger_transactions.c.job_id, ledger_transactions.c.kind)
            if sum(1 for _, kind in kinds if kind == "settle") >= 4:
                break
            await asyncio.sleep(0.05)
    for job_id in [running_id, *waiting]:
        assert sorted(kind for j, kind in kinds if j == job_id) == ["hold", "settle"]
    payments = paid.control_plane.services.payments
    assert payments is not None
    owner = (await rows(paid, jobs.c.account_id))[0][0]
    assert await payments.ledger.balance(client_held(owner)) == 0


async def test_until_its_nodes_reconnect_a_model_they_serve_answers_503_not_404(
    harness: Harness,
) -> None:
    node = await harness.add_node(ScriptedBackend([MODEL]))
    async with asyncio.timeout(10):  # the heartbeat flusher writes last_heartbeat_at
        while not any(seen for (seen,) in await rows(harness, nodes.c.last_heartbeat_at)):
            await asyncio.sleep(0.1)

    await harness.restart(before_start=node.stop)  # the node does not come back (yet)

    async with harness.client() as api:
        waiting = await api.post("/api/v1/jobs", json=job_body())
        unknown = await api.post("/api/v1/jobs", json={**job_body(), "model": "other:1b"})
    assert waiting.status_code == 503, waiting.text
    assert waiting.headers["Retry-After"] == "2"
    assert "reconnecting" in waiting.json()["error_message"]
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "model_not_found"


async def test_a_node_is_routable_the_moment_its_channel_reopens(harness: Harness) -> None:
    # A beat an hour apart: only the hello can tell the new control plane what it serves.
    await harness.add_node(ScriptedBackend([MODEL]), heartbeat_interval_s=3600)

    await harness.restart()

    await harness.control_plane.wait_serving(MODEL, 1, timeout=20)
    async with harness.client() as api:
        job = await wait_final(api, await submit(api))
    assert job["status"] == "completed"


async def test_an_attempt_a_node_still_runs_from_before_the_restart_is_stopped(
    harness: Harness,
) -> None:
    # The first token comes after 2 s: the node is still "thinking" through the restart.
    backend = ScriptedBackend([MODEL], tokens=["a", "b"], delay_s=2.0)
    await harness.add_node(backend)
    async with harness.client() as api:
        job_id = await submit(api)
        async with asyncio.timeout(10):
            while not backend.requests:
                await asyncio.sleep(0.02)

        await harness.restart()

        job = await wait_final(api, job_id)
    assert job["status"] == "completed"
    assert job["result"]["content"] == "ab"  # the old attempt's tokens never mixed in
    (attempts,) = (await rows(harness, jobs.c.attempts))[0]
    assert attempts == 2 and len(backend.requests) == 2


async def test_the_job_timeout_counts_from_submission_across_a_restart(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = Settings(job_timeout_s=2.0)
    async with running(tmp_path, settings, database_url) as harness:
        backend = ScriptedBackend([MODEL], tokens=["a", "b"], delay_s=30.0)  # never in time
        await harness.add_node(backend)
        async with harness.client() as api:
            job_id = await submit(api)
            # Down longer than the timeout: the job is overdue when it is adopted.
            await harness.restart(before_start=lambda: asyncio.sleep(2.5))
            job = await wait_final(api, job_id)
    assert job["status"] == "failed" and job["error"] == "timeout"
    assert len(backend.requests) == 1  # not run again: its time had run out


async def test_a_signed_request_replayed_after_a_restart_is_refused(harness: Harness) -> None:
    key = NodeKey.generate()
    assert (await register(harness, key)).status_code == 200
    body = body_of(heartbeat_payload([MODEL]))
    headers = {"content-type": "application/json"}
    headers.update(sign_request(key, "POST", "/api/v1/heartbeat", body))

    async def beat() -> httpx.Response:
        async with httpx.AsyncClient(base_url=harness.url, timeout=30) as http:
            return await http.post("/api/v1/heartbeat", content=body, headers=headers)

    assert (await beat()).status_code == 200
    await harness.restart()
    replayed = await beat()
    assert replayed.status_code == 401
    assert replayed.headers["X-Infernet-Auth-Error"] == "replay"
