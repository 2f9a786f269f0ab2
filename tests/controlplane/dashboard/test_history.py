"""A node's and a model's history over a window, as the dashboard charts it: counted from
the rows the control plane writes anyway (jobs, ledger) and the GPU samples, on SQLite
and PostgreSQL alike (the `db` fixture runs each test on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from pytest import approx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.dashboard.history import WINDOWS, model_history, node_history
from infernet.controlplane.money.ledger import EXTERNAL_DEPOSITS, Ledger, earnings
from infernet.controlplane.store import samples as sample_store
from infernet.controlplane.store.accounts import create_account
from infernet.controlplane.store.samples import Sample
from infernet.controlplane.store.tables import jobs

HOUR = WINDOWS["hour"]
NOW = datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC)  # bucket 59 of the hour is 12:00
_ids = count()


async def finished_job(
    db: AsyncEngine,
    account: str,
    *,
    node: str = "node_a",
    key: str = "qwen2.5-7b",
    at: datetime,
    tokens: int = 100,
    ttft_s: float = 0.2,
    generation_s: float = 2.0,
    reason: str = "load",
    status: str = "completed",
) -> str:
    """A job as the job manager leaves it: submitted, first token, completed at `at`."""
    job_id = f"job_{next(_ids)}"
    started = at - timedelta(seconds=generation_s)
    values: dict[str, Any] = {
        "id": job_id,
        "account_id": account,
        "model": key,
        "routing_key": key,
        "status": status,
        "node_id": node,
        "request": {},
        "completion_tokens": tokens,
        "routing": {"reason": reason},
        "attempts": 1,
        "created_at": started - timedelta(seconds=ttft_s),
        "started_at": started,
        "completed_at": at,
    }
    async with db.begin() as conn:
        await conn.execute(insert(jobs).values(**values))
    return job_id


def by_key(series: list[Any]) -> dict[str, Any]:
    return {s.key: s for s in series}


async def test_completed_jobs_count_in_the_bucket_they_finished_in(db: AsyncEngine) -> None:
    account = await create_account(db, "client")
    minute58 = NOW - timedelta(minutes=1, seconds=10)
    await finished_job(db, account, at=minute58, tokens=100, generation_s=2.0, ttft_s=0.2)
    await finished_job(
        db, account, at=minute58, tokens=50, generation_s=3.0, ttft_s=0.4, reason="cache"
    )
    await finished_job(db, account, at=NOW - timedelta(minutes=49, seconds=20))
    # Not this node's, not completed, or before the window: not counted.
    await finished_job(db, account, at=minute58, node="node_b")
    await finished_job(db, account, at=minute58, status="failed")
    await finished_job(db, account, at=NOW - timedelta(hours=2))

    history = by_key(
        await node_history(db, "node_a", HOUR, earnings_account=None, now=NOW.timestamp())
    )

    jobs_done = history["jobs"].values
    assert len(jobs_done) == 60
    assert (jobs_done[10], jobs_done[58], jobs_done[59]) == (1, 2, 0)
    assert sum(v or 0 for v in jobs_done) == 3
    assert history["speed"].values[58] == approx(30.0, rel=1e-3)  # 150 tokens in 5 s of generation
    assert history["ttft"].values[58] == approx(300, rel=1e-3)  # mean of 200 and 400 ms
    assert history["cache"].values[58] == 50.0
    # A bucket without jobs: zero jobs, but no speed, TTFT or share (a gap, not a zero).
    assert history["speed"].values[30] is None and history["cache"].values[30] is None
    assert history["speed"].latest == approx(30.0, rel=1e-3)
    assert "earnings" not in history  # payments off


async def test_a_window_without_jobs_has_no_series_to_draw(db: AsyncEngine) -> None:
    account = await create_account(db, "client")
    await finished_job(db, account, at=NOW - timedelta(hours=3))
    history = await node_history(db, "node_a", HOUR, earnings_account=None, now=NOW.timestamp())
    assert [s.key for s in history] == ["jobs", "speed", "ttft", "cache", "gpu"]
    assert not any(s.has_data for s in history)
    assert history[0].empty == "no data in this window"


async def test_earnings_are_the_owners_ledger_postings_for_the_nodes_jobs(
    db: AsyncEngine,
) -> None:
    account = await create_account(db, "client")
    now = datetime.now(UTC)
    mine = await finished_job(db, account, at=now)
    other = await finished_job(db, account, at=now, node="node_b")
    ledger = Ledger(db)
    for job_id in (mine, other):
        await ledger.post(
            "settle",
            f"settle:{job_id}",
            [(earnings("acct_owner"), Decimal("0.0085")), (EXTERNAL_DEPOSITS, Decimal("-0.0085"))],
            job_id=job_id,
        )
    await ledger.post(  # the same owner, but no job of this node
        "settle", "other", [(earnings("acct_owner"), Decimal(1)), (EXTERNAL_DEPOSITS, Decimal(-1))]
    )

    history = by_key(
        await node_history(db, "node_a", HOUR, earnings_account=earnings("acct_owner"))
    )

    assert history["earnings"].unit == "USDC"
    assert history["earnings"].latest == 0.0085
    assert sum(v or 0 for v in history["earnings"].values) == 0.0085


async def test_gpu_utilization_is_the_mean_of_the_samples_in_each_bucket(
    db: AsyncEngine,
) -> None:
    day = WINDOWS["day"]  # 15-minute buckets: 12:00 is the last one
    at = NOW.replace(second=0)
    await sample_store.add(
        db,
        [
            Sample("node_a", at, 40.0, 1),
            Sample("node_a", at + timedelta(minutes=1), 100.0, 3),
            Sample("node_b", at, 5.0, 1),
        ],
    )
    history = by_key(
        await node_history(db, "node_a", day, earnings_account=None, now=NOW.timestamp())
    )
    assert history["gpu"].values[-1] == 85.0  # (40 + 3 x 100) / 4 beats
    assert history["gpu"].values[-2] is None
    silent = await node_history(db, "node_c", day, earnings_account=None, now=NOW.timestamp())
    assert not silent[-1].has_data
    assert silent[-1].empty == "GPU utilization not reported by this node in this window"


async def test_old_samples_are_pruned(db: AsyncEngine) -> None:
    at = NOW.replace(second=0)
    await sample_store.add(db, [Sample("node_a", at - timedelta(days=8), 10.0, 1)])
    await sample_store.add(db, [Sample("node_a", at, 10.0, 1)])
    assert await sample_store.forget_before(db, at - timedelta(days=7)) == 1


async def test_a_models_history_spans_every_node_serving_it(db: AsyncEngine) -> None:
    account = await create_account(db, "client")
    at = NOW - timedelta(seconds=20)
    await finished_job(db, account, at=at, node="node_a", tokens=40, generation_s=1.0)
    await finished_job(db, account, at=at, node="node_b", tokens=20, generation_s=1.0)
    await finished_job(db, account, at=at, key="llama3.2-3b")
    history = by_key(await model_history(db, "qwen2.5-7b", HOUR, now=NOW.timestamp()))
    assert sorted(history) == ["jobs", "speed", "ttft"]
    assert history["jobs"].values[-1] == 2
    assert history["speed"].values[-1] == approx(30.0, rel=1e-3)
