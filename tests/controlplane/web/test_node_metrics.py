"""Per-node series on /metrics: jobs, jobs routed for the cache, measured speed and TTFT,
completion tokens, earnings and GPU utilization; per model: jobs, tokens and TTFT."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from infernet.controlplane.settings import Settings
from infernet.controlplane.web.metrics import MAX_MODEL_LABELS, ControlPlaneMetrics
from infernet.node.gpu_report import HardwareCache
from infernet.node.gpus import GpuInfo
from infernet.node.hardware import detect_hardware
from tests.controlplane.jobs.test_jobs import wait_final
from tests.controlplane.web.test_metrics import scrape, value
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend

SYSTEM = {"role": "system", "content": "You answer from the manual. " * 100}
Found = dict[tuple[str, frozenset[tuple[str, str]]], float]
ASK = {"model": "m:1b", "messages": [{"role": "user", "content": "hi"}]}


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


async def scrape_when(harness: Harness, name: str, expected: float, **labels: str) -> Found:
    """A scrape once `name` reached `expected` (a job's events follow its stored row);
    the last one after a few seconds."""
    for _ in range(50):
        found = await scrape(harness)
        if value(found, name, **labels) >= expected:
            break
        await asyncio.sleep(0.1)
    return found


async def test_nodes_and_models_count_tokens_earnings_and_first_token_times(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, Settings(payments_enabled=True)) as harness:
        node = await harness.add_node(ScriptedBackend(["m:1b"], tokens=["a", "b", "c"]))
        async with harness.client() as api:
            for _ in range(2):
                job = await api.post("/api/v1/jobs", json=ASK)
                assert (await wait_final(harness, job.json()["id"]))["status"] == "completed"
        found = await scrape_when(harness, "infernet_jobs_total", 2, status="completed")
    node_id = str(node.node_id)
    assert value(found, "infernet_node_completion_tokens_total", node=node_id) == 6
    assert value(found, "infernet_node_earnings_usdc_total", node=node_id) > 0
    assert value(found, "infernet_model_jobs_completed_total", model="m:1b") == 2
    assert value(found, "infernet_model_completion_tokens_total", model="m:1b") == 6
    assert value(found, "infernet_model_ttft_seconds_count", model="m:1b") == 2


async def test_a_nodes_gpu_utilization_is_shown_as_claimed_but_bounded(harness: Harness) -> None:
    node = await harness.add_node(ScriptedBackend(["m:1b"]))
    claim = GpuInfo("nvidia", "L4", 24_000, utilization_pct=250.0)  # nonsense from the node
    report = replace(detect_hardware(), gpus=(claim,))
    node.daemon.hardware = HardwareCache(detect=lambda: report)
    node_id = str(node.node_id)
    found = await scrape_when(harness, "infernet_node_gpu_utilization_percent", 100, node=node_id)
    assert value(found, "infernet_node_gpu_utilization_percent", node=node_id) == 100.0


def test_model_labels_stay_bounded() -> None:
    metrics = ControlPlaneMetrics()
    labels = {metrics._model(f"model-{i}") for i in range(MAX_MODEL_LABELS + 50)}
    assert len(labels) == MAX_MODEL_LABELS + 1 and "other" in labels
    assert metrics._model("model-0") == "model-0"  # a model already labelled keeps its own
