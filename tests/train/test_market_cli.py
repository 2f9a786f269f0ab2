"""`infernet train run --open-market` as a submitter meets it when no node trains: the job
is submitted once with its budget held, ends at its deadline with the budget returned and
a clear exit; running the command again waits for that same job (`market.json`) unless
the settings or the data changed (then it says so), and `--restart` submits anew."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.harness import Harness, running
from tests.train.conftest import make_run, needs_train_extra, zorblax_lines
from tests.train.market_net import job_state, market_settings, submit

pytestmark = pytest.mark.timeout(600)

DEADLINE = ("--deadline-hours", "0.001")  # 3.6 s: no node is there to train


@pytest_asyncio.fixture
async def net(tmp_path: Path) -> AsyncIterator[Harness]:
    needs_train_extra()
    async with running(tmp_path, market_settings(tmp_path)) as harness:
        yield harness


async def balance(net: Harness) -> dict[str, str]:
    async with net.client() as api:
        return dict((await api.get("/api/v1/billing/balance")).json())


async def test_a_job_no_node_takes_ends_at_its_deadline_and_is_waited_for_once(
    net: Harness, tmp_path: Path
) -> None:
    run = make_run(tmp_path / "work", zorblax_lines(6))
    before = await balance(net)
    args = ("--budget", "2", "--max-nodes", "3", *DEADLINE)
    first = await submit(net, run, *args)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "ended with no shard accepted" in first.stderr
    job_id = json.loads((run / "market.json").read_text())["job_id"]
    state = await job_state(net, job_id)
    assert state["status"] == "failed" and len(state["shards"]) == 3
    assert all(s["status"] == "failed" for s in state["shards"])
    assert await balance(net) == before  # the whole budget went back

    again = await submit(net, run, *args)
    assert again.returncode == 1 and job_id in again.stderr  # the same job, not a new one

    data = tmp_path / "work" / "train.jsonl"
    data.write_text(data.read_text() + "\n".join(zorblax_lines(8)[6:]) + "\n")
    changed = await submit(net, run, *args)
    assert changed.returncode == 1 and "the dataset changed" in changed.stderr

    fresh = await submit(net, run, *args, "--restart")
    assert fresh.returncode == 1
    assert json.loads((run / "market.json").read_text())["job_id"] != job_id


async def test_a_budget_above_the_balance_is_refused_with_exit_4(
    net: Harness, tmp_path: Path
) -> None:
    run = make_run(tmp_path / "work", zorblax_lines(4))
    done = await submit(net, run, "--budget", "1000", "--max-nodes", "2")
    assert done.returncode == 4 and "Lower --budget or add funds" in done.stderr
    assert not (run / "market.json").exists()
