"""Per-node series on /metrics: jobs, jobs routed for the cache, measured speed and TTFT."""

from __future__ import annotations

from tests.controlplane.jobs.test_jobs import wait_final
from tests.controlplane.web.test_metrics import scrape, value
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

SYSTEM = {"role": "system", "content": "You answer from the manual. " * 100}


async def test_each_node_has_its_jobs_cache_share_speed_and_ttft(harness: Harness) -> None:
    node = await harness.add_node(ScriptedBackend(["m:1b"], delay_s=0.01))
    async with harness.client() as api:
        for turn in range(2):
            messages = [SYSTEM, {"role": "user", "content": f"question {turn}"}]
            job = await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": messages})
            assert (await wait_final(harness, job.json()["id"]))["status"] == "completed"
    found = await scrape(harness)
    node_id = str(node.node_id)
    assert value(found, "infernet_node_jobs_done", node=node_id) == 2
    assert value(found, "infernet_node_jobs_routed_for_cache", node=node_id) == 1
    assert value(found, "infernet_node_tokens_per_second", node=node_id) > 0
    assert value(found, "infernet_node_ttft_seconds", node=node_id) > 0
    assert value(found, "infernet_node_active_jobs", node=node_id) == 0
