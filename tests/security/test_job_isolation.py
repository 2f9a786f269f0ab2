"""Nobody acts on a job that is not theirs. A node that writes tokens, done or failed
for a job assigned to another node, over its own real job channel, is ignored: nothing
reaches the client, nothing is stored, nothing is receipted or billed. A client asking
for another client's job gets 404 on every route that names it, with nothing leaked.

Replayed, skewed and forged node signatures: tests/controlplane/nodes/test_node_auth.py
(test_a_nonce_replayed_within_five_minutes_is_refused, test_a_clock_off_by_more_than_30_
seconds_is_refused, test_a_signature_made_by_another_key_is_refused, ...)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from sqlalchemy import select

from infernet.controlplane.settings import Settings
from infernet.controlplane.store.tables import jobs, ledger_transactions, receipts
from infernet.protocol.keys import NodeKey
from infernet.protocol.wire import JobDone, JobFailed, JobToken, UsageReport
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend
from tests.support.signed import channel, heartbeat, register

TOKENS = ["one", " two", " three", " four"]
SECRET = "the client's private prompt"
JOB = {"model": "m:1b", "messages": [{"role": "user", "content": SECRET}], "max_tokens": 20}


@pytest_asyncio.fixture
async def paid(tmp_path: Path, database_url: str | None) -> AsyncIterator[Harness]:
    settings = Settings(payments_enabled=True, platform_key_path=str(tmp_path / "platform.key"))
    async with running(tmp_path, settings, database_url) as harness:
        yield harness


async def wait_finished(harness: Harness, job_id: str, receipt: bool = True) -> dict[str, object]:
    async with harness.client() as api:
        for _ in range(400):
            job: dict[str, object] = (await api.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] in ("completed", "failed") and (
                job["status"] == "failed" or job["receipt_ids"] or not receipt
            ):
                return job
            await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished: {job}")


def forged(job_id: str) -> list[str]:
    usage = UsageReport(prompt_tokens=9_999, completion_tokens=99_999)
    return [
        m.model_dump_json()
        for attempt in (0, 1, 2)
        for m in (
            JobToken(job_id=job_id, attempt=attempt, text=" INJECTED"),
            JobDone(job_id=job_id, attempt=attempt, usage=usage, finish_reason="stop"),
            JobFailed(job_id=job_id, attempt=attempt, error="x", message="forged failure"),
        )
    ]


async def test_a_node_writing_to_a_job_not_assigned_to_it_is_ignored(paid: Harness) -> None:
    honest = await paid.add_node(ScriptedBackend(["m:1b"], tokens=TOKENS, delay_s=0.3))
    intruder = await _intruder(paid)
    async with paid.client() as api, channel(paid, intruder) as socket:
        job_id = (await api.post("/api/v1/jobs", json=JOB)).json()["id"]
        await asyncio.sleep(0.2)  # the honest node is mid-answer
        for text in [*forged(job_id), *forged("job_does_not_exist")]:
            await socket.send(text)
        job = await wait_finished(paid, job_id)
    assert job["status"] == "completed" and job["node_id"] == honest.node_id
    assert job["result"]["content"] == "".join(TOKENS)  # type: ignore[index]
    async with paid.control_plane.services.db.connect() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).mappings().one()
        cprs = (await conn.execute(select(receipts))).mappings().all()
        charges = (
            (
                await conn.execute(
                    select(ledger_transactions).where(ledger_transactions.c.job_id == job_id)
                )
            )
            .mappings()
            .all()
        )
        stray = (await conn.execute(select(jobs).where(jobs.c.id == "job_does_not_exist"))).all()
    assert [s["node_id"] for s in row["segments"]] == [honest.node_id]
    assert row["completion_tokens"] == len(TOKENS) and "INJECTED" not in row["content"]
    assert [(r["job_id"], r["node_id"]) for r in cprs] == [(job_id, honest.node_id)]
    assert len({c["idempotency_key"] for c in charges}) == len(charges) >= 1
    assert all("99999" not in json.dumps(dict(r), default=str) for r in charges)
    assert stray == []


async def _intruder(harness: Harness) -> NodeKey:
    """A registered node that serves some other model, so it is never given the job."""
    key = NodeKey.generate()
    assert (await register(harness, key)).status_code == 200
    assert (await heartbeat(harness, key, ["other:7b"])).status_code == 200
    return key


async def test_a_client_cannot_read_another_clients_job_anywhere(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"], tokens=TOKENS))
    other_key = await harness.control_plane.create_client_key("other")
    async with harness.client() as owner, harness.client(other_key) as other:
        job_id = (await owner.post("/api/v1/jobs", json=JOB)).json()["id"]
        await wait_finished(harness, job_id, receipt=False)
        answers = [
            await other.get(f"/api/v1/jobs/{job_id}"),
            await other.get(f"/api/v1/jobs/{job_id}/stream"),
            await other.get(f"/api/v1/jobs/{job_id}/stream", headers={"Last-Event-ID": "0"}),
        ]
        listed = (await other.get("/api/v1/jobs")).json()
        unknown = await other.get("/api/v1/jobs/job_never_existed")
        mine = await owner.get(f"/api/v1/jobs/{job_id}")
    assert mine.status_code == 200
    for answer in answers:
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"] == unknown.json()["error"] == "not_found"
        # The same answer as for a job that never existed, nothing of the job inside.
        assert answer.text.replace(job_id, "X") == unknown.text.replace("job_never_existed", "X")
        assert SECRET not in answer.text and "one" not in answer.text
    assert listed["jobs"] == []
