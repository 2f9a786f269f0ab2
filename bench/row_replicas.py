"""Rows 6b and 6c: the simulated network against control-plane replicas sharing a
throwaway PostgreSQL and Redis: two replicas (6b), and one (6c, run first), so what a
second replica adds is measured on the same store, beside one replica on SQLite (6a).

Each replica is its own process (`bench.serve controlplane --db --redis --replica-id`,
the settings `infernet cp serve` takes). Simulated nodes (`bench/simnode.py`) join the
two in turn, and clients stream jobs through both. Each replica routes a job to one of
its own nodes when one is as good as any (jobs/router.py); a job goes to a node on the
other replica, its messages over the bus, only when none of its own is as good.
Jobs/s and dispatch latency (client request -> job on the node, one clock) are measured
as in row 6a; row 6b's jobs/s is also given as a ratio of 6c's and 6a's. Without the
PostgreSQL or Redis binaries the rows say so.
"""

from __future__ import annotations

import asyncio
import time

from bench import dbservers, procs
from bench.context import Context
from bench.report import Row, skipped, verdict
from bench.row_simnet import BATCH, SQLITE_ONE, _jobs, _ramp, sim_note
from bench.simnode import SimNode, SimNodeError
from bench.stats import cpu_seconds, rss_mb

SHARED_ONE = "shared_one_jobs_per_s"  # row 6c's jobs/s, for row 6b's ratio


def _replica(ctx: Context, index: int, db: str, redis: str) -> tuple[procs.Child, int]:
    port = procs.free_port()
    argv = procs.python_module(
        "bench.serve", "controlplane", "--port", str(port), "--home",
        str(ctx.work / f"replica{index}"), "--db", db, "--redis", redis,
        "--replica-id", f"bench-{index}",
    )  # fmt: skip
    return procs.Child(f"replica {index}", argv, ctx.work / f"replica{index}.log"), port


async def two_replicas(ctx: Context) -> list[Row]:
    return await _replicas(ctx, "6b", 2)


async def one_shared_replica(ctx: Context) -> list[Row]:
    return await _replicas(ctx, "6c", 1)


async def _replicas(ctx: Context, row: str, count: int) -> list[Row]:
    sizes = ctx.sizes
    name = (
        f"6. Simulated network: {sizes.sim_nodes:,} light nodes, "
        f"{'two replicas' if count == 2 else 'one replica'} on PostgreSQL + Redis"
    )
    why = dbservers.missing()
    if why:
        return [skipped(row, name, why, verdict="not run")]
    postgres, redis = dbservers.PostgresServer(), dbservers.RedisServer()
    children: list[procs.Child] = []
    nodes: list[SimNode] = []
    arrivals: dict[str, float] = {}
    try:
        await asyncio.to_thread(postgres.start)
        await asyncio.to_thread(redis.start)
        doors: list[tuple[int, str]] = []
        for index in range(count):  # one after the other: the first applies migrations
            child, port = _replica(ctx, index, postgres.url(), redis.url)
            children.append(child.start())
            info = await child.ready(90)
            doors.append((port, str(info["api_key"])))
        ctx.say(f"row {row}: {sizes.sim_nodes:,} simulated nodes joining {count} replica(s)")
        started = time.perf_counter()
        nodes, stopped = await _ramp(ctx, tuple(p for p, _ in doors), arrivals)
        ramp_s = time.perf_counter() - started
        served = sorted({m.name for n in nodes for m in n.beat.served_models})
        ctx.say(f"row {row}: {len(nodes):,} joined in {ramp_s:.0f} s; {sizes.sim_jobs:,} jobs")
        cpu0 = [cpu_seconds(c.pid) or 0.0 for c in children]
        got = await _jobs(ctx, doors, served, arrivals)
        got["cp_cpu_s"] = sum(
            (cpu_seconds(c.pid) or 0.0) - c0 for c, c0 in zip(children, cpu0, strict=True)
        )
        got["cp_rss_mb"] = sum(rss_mb(c.pid) or 0.0 for c in children)
    except (procs.ProcessFailed, SimNodeError, TimeoutError, OSError, RuntimeError) as exc:
        return [skipped(row, name, f"failed: {exc!r}"[:300], verdict="missed")]
    finally:
        await asyncio.gather(*(n.stop() for n in nodes))
        await asyncio.gather(*(c.stop() for c in children))
        redis.close()
        await asyncio.to_thread(postgres.stop)
    if count == 1:
        ctx.shared[SHARED_ONE] = got["jobs_per_s"]
    got["cp_cpu_ms_per_job"] = got["cp_cpu_s"] * 1000 / max(1.0, got["jobs"])
    return [_row(ctx, row, name, count, (len(nodes), ramp_s, stopped), got)]


def _ratios(ctx: Context, jobs_per_s: float) -> str:
    """Row 6b's jobs/s against one replica's on the same store (6c) and on SQLite (6a)."""
    against = [
        (SHARED_ONE, "one replica on the same store (6c)"),
        (SQLITE_ONE, "one on SQLite (6a)"),
    ]
    told = [
        f"jobs/s ×{jobs_per_s / ctx.shared[k]:.2f} of {what}"
        for k, what in against
        if ctx.shared.get(k)
    ]
    return ", ".join(told)


def _row(
    ctx: Context,
    row: str,
    name: str,
    count: int,
    ramp: tuple[int, float, str],
    got: dict[str, float],
) -> Row:
    joined, ramp_s, stopped = ramp
    return Row(
        row,
        name,
        baseline=f"{joined:,} nodes joined in {ramp_s:.0f} s ({joined / ramp_s:.0f}/s), "
        f"batches of {BATCH} over {count} replica(s)",
        ours=(
            f"{got['jobs_per_s']:.0f} jobs/s routed and streamed; dispatch p50 "
            f"{got['dispatch_p50_ms']:.1f} ms, p99 {got['dispatch_p99_ms']:.1f} ms; "
            f"{got['errors']:.0f} errors of {got['jobs']:.0f}; "
            f"{got['cp_cpu_ms_per_job']:.1f} ms of replica CPU per job; "
            f"{got['cp_rss_mb']:.0f} MiB RSS"
        ),
        ratio=_ratios(ctx, got["jobs_per_s"]) if count > 1 else "",
        target="all nodes joined, 0 errors",
        verdict=verdict(not stopped and not got["errors"]),
        note=sim_note(joined, stopped, got),
        data={"joined": joined, "ramp_s": ramp_s, "replicas": count, **got},
    )
