"""Row 6b: the simulated network against two control-plane replicas sharing a throwaway
PostgreSQL and Redis.

Each replica is its own process (`bench.serve controlplane --db --redis --replica-id`,
the settings `infernet cp serve` takes). Simulated nodes (`bench/simnode.py`) join the
two in turn, and clients stream jobs through both, so about half the jobs are submitted
to the replica that does not hold the chosen node's channel and travel over the bus.
Jobs/s and dispatch latency (client request -> job on the node, one clock) are measured
as in row 6a. Without the PostgreSQL or Redis binaries the row says so.
"""

from __future__ import annotations

import asyncio
import time

from bench import dbservers, procs
from bench.context import Context
from bench.report import Row, skipped, verdict
from bench.row_simnet import BATCH, _jobs, _ramp, sim_note
from bench.simnode import SimNode, SimNodeError
from bench.stats import cpu_seconds, rss_mb

ROW = "6b"
REPLICAS = 2


def _replica(ctx: Context, index: int, db: str, redis: str) -> tuple[procs.Child, int]:
    port = procs.free_port()
    argv = procs.python_module(
        "bench.serve", "controlplane", "--port", str(port), "--home",
        str(ctx.work / f"replica{index}"), "--db", db, "--redis", redis,
        "--replica-id", f"bench-{index}",
    )  # fmt: skip
    return procs.Child(f"replica {index}", argv, ctx.work / f"replica{index}.log"), port


async def two_replicas(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    name = (
        f"6. Simulated network: {sizes.sim_nodes:,} light nodes, two replicas on PostgreSQL + Redis"
    )
    why = dbservers.missing()
    if why:
        return [skipped(ROW, name, why, verdict="not run")]
    postgres, redis = dbservers.PostgresServer(), dbservers.RedisServer()
    children: list[procs.Child] = []
    nodes: list[SimNode] = []
    arrivals: dict[str, float] = {}
    try:
        await asyncio.to_thread(postgres.start)
        await asyncio.to_thread(redis.start)
        doors: list[tuple[int, str]] = []
        for index in range(REPLICAS):  # one after the other: the first applies migrations
            child, port = _replica(ctx, index, postgres.url(), redis.url)
            children.append(child.start())
            info = await child.ready(90)
            doors.append((port, str(info["api_key"])))
        ctx.say(f"row 6b: {sizes.sim_nodes:,} simulated nodes joining {REPLICAS} replicas")
        started = time.perf_counter()
        nodes, stopped = await _ramp(ctx, tuple(p for p, _ in doors), arrivals)
        ramp_s = time.perf_counter() - started
        served = sorted({m.name for n in nodes for m in n.beat.served_models})
        ctx.say(f"row 6b: {len(nodes):,} nodes joined in {ramp_s:.0f} s; {sizes.sim_jobs:,} jobs")
        cpu0 = [cpu_seconds(c.pid) or 0.0 for c in children]
        got = await _jobs(ctx, doors, served, arrivals)
        got["cp_cpu_s"] = sum(
            (cpu_seconds(c.pid) or 0.0) - c0 for c, c0 in zip(children, cpu0, strict=True)
        )
        got["cp_rss_mb"] = sum(rss_mb(c.pid) or 0.0 for c in children)
    except (procs.ProcessFailed, SimNodeError, TimeoutError, OSError, RuntimeError) as exc:
        return [skipped(ROW, name, f"failed: {exc!r}"[:300], verdict="missed")]
    finally:
        await asyncio.gather(*(n.stop() for n in nodes))
        await asyncio.gather(*(c.stop() for c in children))
        redis.close()
        await asyncio.to_thread(postgres.stop)
    return [_row(name, len(nodes), ramp_s, stopped, got)]


def _row(name: str, joined: int, ramp_s: float, stopped: str, got: dict[str, float]) -> Row:
    note = sim_note(joined, stopped, got)
    return Row(
        ROW,
        name,
        baseline=f"{joined:,} nodes joined in {ramp_s:.0f} s ({joined / ramp_s:.0f}/s), "
        f"batches of {BATCH} over {REPLICAS} replicas",
        ours=(
            f"{got['jobs_per_s']:.0f} jobs/s routed and streamed; dispatch p50 "
            f"{got['dispatch_p50_ms']:.1f} ms, p99 {got['dispatch_p99_ms']:.1f} ms; "
            f"{got['errors']:.0f} errors of {got['jobs']:.0f}; replicas "
            f"{got['cp_rss_mb']:.0f} MiB RSS together"
        ),
        target="all nodes joined, 0 errors",
        verdict=verdict(not stopped and not got["errors"]),
        note=note,
        data={"joined": joined, "ramp_s": ramp_s, "replicas": REPLICAS, **got},
    )
