"""The Market page: per model served now, each node's price and measured speed (a table
and a price/speed chart with a point per measured node) and the model's jobs over a
window. The viewer's own nodes are named and linked; everyone else's are anonymous."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from infernet.controlplane.settings import Settings
from tests.controlplane.dashboard.test_history_page import ASK, figure, signed_in
from tests.support.harness import running
from tests.support.scripted import ScriptedBackend


async def test_each_model_shows_its_nodes_prices_speeds_and_jobs(tmp_path: Path) -> None:
    async with running(tmp_path, Settings(payments_enabled=True)) as harness:
        mine = await harness.add_node(
            ScriptedBackend(["smollm2:135m"], delay_s=0.05), owner=harness.api_key
        )
        other_owner = await harness.control_plane.create_client_key("someone else")
        theirs = await harness.add_node(
            ScriptedBackend(["smollm2:135m"], delay_s=0.05), owner=other_owner
        )
        async with harness.client() as api:
            answers = await asyncio.gather(
                *(api.post("/v1/chat/completions", json=ASK) for _ in range(4))
            )
        assert all(a.status_code == 200 for a in answers)
        async with signed_in(harness, harness.api_key) as browser:
            page = (await browser.get("/dashboard/market?window=hour")).text
            empty = await httpx.AsyncClient(base_url=harness.url).get("/dashboard/market")

    assert '<section class="card market" data-model="smollm2:135m">' in page
    assert f'href="/dashboard/nodes/{mine.node_id}"' in page and "yours" in page
    assert str(theirs.node_id) not in page  # another operator's node stays anonymous
    assert re.search(r"node \d</td>", page)
    assert re.search(r"[\d.]+ / [\d.]+ USDC", page)  # each node's price in / out
    spread = figure(page, "smollm2-135m-market")
    assert spread.count('<circle class="point"') >= 1  # a point per node that ran a job
    assert "cheapest 0.001 USDC per 1K output tokens" in spread  # the default price, both
    assert "measured <strong>2 node(s)</strong>" in spread
    jobs = figure(page, "smollm2-135m-jobs")
    assert re.search(r"latest <strong>\d jobs?</strong>", jobs)
    assert empty.status_code in (303, 307, 401)  # signed out: to the sign-in page
