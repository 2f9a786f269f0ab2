"""A node's page charts its history for its owner: jobs it completed through the network
are drawn as points on server-rendered SVG, with a title, a description and the latest
value as text; a window is chosen by link; a chart with nothing to draw says so; the GPU
utilization a node claims is bounded before it is drawn; and no one else sees any of it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx

from infernet.controlplane.nodes.samples import GpuSamples
from infernet.controlplane.watchers.sweeps import store_gpu_samples
from infernet.localnet import LocalNode
from infernet.node.gpu_report import HardwareCache
from infernet.node.gpus import GpuInfo
from infernet.node.hardware import detect_hardware
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

ASK = {"model": "smollm2:135m", "messages": [{"role": "user", "content": "hi"}]}


@asynccontextmanager
async def signed_in(harness: Harness, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=harness.url, timeout=30) as browser:
        answer = await browser.post("/dashboard/sign-in", data={"api_key": key})
        assert answer.status_code == 303
        yield browser


async def node_with_jobs(harness: Harness, jobs: int) -> LocalNode:
    backend = ScriptedBackend(["smollm2:135m"], delay_s=0.01)
    node = await harness.add_node(backend, owner=harness.api_key)
    async with harness.client() as api:
        for _ in range(jobs):
            assert (await api.post("/v1/chat/completions", json=ASK)).status_code == 200
    return node


def figure(page: str, key: str) -> str:
    found = re.search(rf'<figure class="chart" id="chart-{key}".*?</figure>', page, re.S)
    assert found, f"no {key} chart on the page"
    return found.group(0)


async def test_the_owner_sees_the_jobs_drawn_over_the_chosen_window(harness: Harness) -> None:
    node = await node_with_jobs(harness, 3)
    async with signed_in(harness, harness.api_key) as browser:
        page = (await browser.get(f"/dashboard/nodes/{node.node_id}?window=hour")).text

    jobs = figure(page, "jobs")
    assert '<svg viewBox="0 0 600 160" role="img"' in jobs
    assert '<title id="chart-jobs-t">Jobs completed</title>' in jobs
    assert "last hour, per minute" in jobs  # the description names the window
    assert jobs.count('<circle class="point"') >= 1  # the minute(s) the jobs finished in
    assert re.search(r"latest <strong>\d jobs?</strong>", jobs)
    speed = figure(page, "speed")
    assert re.search(r"latest <strong>[\d.]+ tokens/s</strong>", speed)
    assert "ms</strong>" in figure(page, "ttft")
    assert "latest <strong>0%</strong>" in figure(page, "cache")  # none routed for cache
    assert 'href="/dashboard/nodes/' in page and 'aria-current="true"' in page
    assert ">hour</a>" in page and ">week</a>" in page


async def test_a_node_without_jobs_says_there_is_nothing_to_draw(harness: Harness) -> None:
    node = await node_with_jobs(harness, 0)
    async with signed_in(harness, harness.api_key) as browser:
        page = (await browser.get(f"/dashboard/nodes/{node.node_id}?window=nonsense")).text
    assert "last 24 hours, per 15 minutes" in page  # an unknown window: the day
    assert "<svg" not in figure(page, "jobs")
    assert "no data in this window" in figure(page, "jobs")


async def test_no_one_else_sees_a_nodes_history(harness: Harness) -> None:
    node = await node_with_jobs(harness, 1)
    stranger = await harness.control_plane.create_client_key("stranger")
    async with signed_in(harness, stranger) as browser:
        page = await browser.get(f"/dashboard/nodes/{node.node_id}?window=hour")
    assert page.status_code == 404 and "chart-jobs" not in page.text


async def test_gpu_utilization_a_node_claims_is_bounded_stored_and_drawn(
    harness: Harness,
) -> None:
    services = harness.control_plane.services
    now = [time.time()]
    services.samples = GpuSamples(clock=lambda: now[0])
    node = await node_with_jobs(harness, 0)
    claims = (GpuInfo("nvidia", "L4", 24_000, utilization_pct=250.0),)  # over 100 %
    report = replace(detect_hardware(), gpus=claims)
    node.daemon.hardware = HardwareCache(detect=lambda: report)
    for _ in range(100):  # until a beat carrying the claim arrived
        if services.samples.latest.get(str(node.node_id)) is not None:
            break
        await asyncio.sleep(0.05)
    now[0] += 60  # the minute is over
    await store_gpu_samples(services)
    async with signed_in(harness, harness.api_key) as browser:
        page = (await browser.get(f"/dashboard/nodes/{node.node_id}?window=hour")).text
    gpu = figure(page, "gpu")
    assert "latest <strong>100%</strong>" in gpu and gpu.count('<circle class="point"') == 1
