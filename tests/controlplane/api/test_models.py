"""GET /api/v1/models: each served model, its nodes, and how fast they answer (measured)."""

from __future__ import annotations

from tests.controlplane.jobs.test_jobs import wait_final
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

MESSAGES = [{"role": "user", "content": "hi"}]


async def test_models_show_node_count_and_measured_speed_once_jobs_ran(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"], delay_s=0.01))
    await harness.add_node(ScriptedBackend(["m:1b"], delay_s=0.01))
    async with harness.client() as api:
        before = (await api.get("/api/v1/models")).json()["models"]
        job = (await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})).json()
    assert (await wait_final(harness, job["id"]))["status"] == "completed"
    async with harness.client() as api:
        after = (await api.get("/api/v1/models")).json()["models"]
    assert [(m["id"], m["nodes"]) for m in before] == [("m:1b", 2)]
    assert before[0]["avg_tokens_per_second"] is None and before[0]["avg_ttft_ms"] is None
    assert after[0]["avg_tokens_per_second"] > 0
    assert 0 < after[0]["avg_ttft_ms"] < 5_000
