"""Row 6: a simulated network of many light nodes against one control plane.

Nodes join (`BATCH` joins in flight at once) until the target count or the ramp time
budget is reached (the row says which); their keys are made before the ramp is timed.
Then clients stream jobs through the control plane; each job's dispatch latency runs
from the client's request to the job's arrival on a node (one clock: the nodes and the
clients share this process). The PostgreSQL + Redis variants (rows 6b and 6c,
`bench/row_replicas.py`) reuse the ramp and the clients with one door per replica.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time

from bench import procs
from bench.context import Context
from bench.httpclient import Connection
from bench.load import Target, book_body, json_headers, openai_body, stream_once
from bench.population import heartbeat_for
from bench.report import Row, skipped, verdict
from bench.row_relay import ours_speaks_openai
from bench.simnode import SimNode, SimNodeError, SimPool
from bench.stats import cpu_seconds, percentile, rss_mb

BATCH = 100  # joins in flight at once: a steady stream, not batches waiting for the slowest
JOBS_BUDGET_S = 120.0  # clients stop submitting after this; the row counts what was done
JOB_TIMEOUT_S = 30.0  # a job not fully answered by then counts as an error
SQLITE_ONE = "sqlite_one_jobs_per_s"  # this row's jobs/s (one replica, SQLite), for row 6b


def fleet(ctx: Context, ports: tuple[int, ...], arrivals: dict[str, float]) -> list[SimNode]:
    """The simulated nodes, spread over `ports` (one per replica) in turn, each with its
    key and heartbeat made (before the timed ramp: a real node has them before it starts);
    the nodes at one port share a few keep-alive connections (`SimPool`)."""
    pools = tuple(SimPool(port) for port in ports)
    rng = random.Random(11)
    nodes = [
        SimNode(pools[i % len(pools)], heartbeat_for(rng), arrivals)
        for i in range(ctx.sizes.sim_nodes)
    ]
    for node in nodes:
        node.prepare()
    return nodes


async def _ramp(
    ctx: Context,
    ports: tuple[int, ...],
    arrivals: dict[str, float],
    prepared: list[SimNode] | None = None,
) -> tuple[list[SimNode], str]:
    """Nodes join, `BATCH` at a time in flight, until all did, one failed or the ramp
    budget ran out; returns those that joined and, if not all did, why."""
    waiting = iter(prepared if prepared is not None else fleet(ctx, ports, arrivals))
    joined: list[SimNode] = []
    stopped: list[str] = []
    deadline = time.perf_counter() + ctx.sizes.sim_ramp_budget_s

    async def joiner() -> None:
        for node in waiting:
            if stopped:
                return
            if time.perf_counter() > deadline:
                stopped.append(f"ramp budget of {ctx.sizes.sim_ramp_budget_s:.0f} s reached")
                return
            try:
                await node.start()
            except (SimNodeError, OSError, TimeoutError) as exc:
                stopped.append(f"a node failed to join: {exc!r}"[:300])
                await node.stop()
                return
            joined.append(node)
            if len(joined) % 1000 == 0:
                ctx.say(f"row 6: {len(joined):,} simulated nodes joined")

    await asyncio.gather(*(joiner() for _ in range(BATCH)))
    return joined, stopped[0] if stopped else ""


def _job_target(port: int, api_key: str, model: str, tag: str, openai: bool) -> Target:
    headers = json_headers(api_key)
    if openai:
        body = openai_body(model, 1, tag)
        return Target("ours", port, "/v1/chat/completions", body, "openai", headers)
    return Target("ours", port, "/api/v1/jobs", book_body(model, 1, tag), "book", headers)


async def _jobs(
    ctx: Context, doors: list[tuple[int, str]], models: list[str], arrivals: dict[str, float]
) -> dict[str, float]:
    """Clients stream jobs, each through one of `doors` ((port, API key) per replica)."""
    counter = itertools.count()
    submitted: dict[str, float] = {}
    errors: list[str] = []
    rng = random.Random(13)
    openai = ours_speaks_openai()
    deadline = time.perf_counter() + JOBS_BUDGET_S

    async def client(port: int, api_key: str) -> None:
        conn = Connection("127.0.0.1", port)
        try:
            while (n := next(counter)) < ctx.sizes.sim_jobs and time.perf_counter() < deadline:
                tag = f"bench job {n}"
                target = _job_target(port, api_key, rng.choice(models), tag, openai)
                submitted[tag] = time.perf_counter()
                try:
                    result = await asyncio.wait_for(stream_once(conn, target), JOB_TIMEOUT_S)
                except TimeoutError:
                    await conn.close()
                    errors.append(f"no complete answer within {JOB_TIMEOUT_S:.0f} s")
                    continue
                if not result.ok:
                    errors.append(result.error)
        finally:
            await conn.close()

    started = time.perf_counter()
    async with asyncio.timeout(JOBS_BUDGET_S + JOB_TIMEOUT_S + 30):
        clients = range(ctx.sizes.sim_concurrency)
        await asyncio.gather(*(client(*doors[i % len(doors)]) for i in clients))
    wall = time.perf_counter() - started
    latencies = [arrivals[t] - s for t, s in submitted.items() if t in arrivals]
    return {
        "jobs": len(submitted),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",  # type: ignore[dict-item]
        "jobs_per_s": (len(submitted) - len(errors)) / wall,
        "dispatch_p50_ms": percentile(latencies, 50) * 1000,
        "dispatch_p99_ms": percentile(latencies, 99) * 1000,
    }


async def simulated_network(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    name = f"6. Simulated network: {sizes.sim_nodes:,} light nodes, one control plane"
    port = procs.free_port()
    cp = procs.Child(
        "control plane",
        procs.python_module(
            "bench.serve", "controlplane", "--port", str(port), "--home", str(ctx.work / "sim")
        ),
        ctx.work / "controlplane-simnet.log",
    ).start()
    arrivals: dict[str, float] = {}
    nodes: list[SimNode] = []
    try:
        info = await cp.ready(60)
        prepared = fleet(ctx, (port,), arrivals)
        ctx.say(f"row 6: {sizes.sim_nodes:,} simulated nodes joining, {BATCH} at a time")
        ramp_started, client0 = time.perf_counter(), time.process_time()
        cp0 = cpu_seconds(cp.pid) or 0.0
        nodes, stopped = await _ramp(ctx, (port,), arrivals, prepared)
        ramp_s = time.perf_counter() - ramp_started
        ramp_cpu = {  # who limits the ramp: the bench's own process or the control plane
            "ramp_client_cpu_s": time.process_time() - client0,
            "ramp_cp_cpu_s": (cpu_seconds(cp.pid) or 0.0) - cp0,
        }
        served = sorted({m.name for n in nodes for m in n.beat.served_models})
        ctx.say(f"row 6: {len(nodes):,} nodes joined in {ramp_s:.0f} s; {sizes.sim_jobs:,} jobs")
        cpu0 = cpu_seconds(cp.pid) or 0.0
        got = await _jobs(ctx, [(port, str(info["api_key"]))], served, arrivals)
        got["cp_cpu_s"] = (cpu_seconds(cp.pid) or 0.0) - cpu0
        got["cp_rss_mb"] = rss_mb(cp.pid) or 0.0
        got.update(ramp_cpu)
        got["beats_failed"] = sum({n.pool: n.pool.beater.failed for n in nodes}.values())
        ctx.shared[SQLITE_ONE] = got["jobs_per_s"]
    except (procs.ProcessFailed, SimNodeError, TimeoutError, OSError) as exc:
        return [skipped("6a", name, f"failed: {exc!r}"[:300], verdict="missed")]
    finally:
        await asyncio.gather(*(n.stop() for n in nodes))
        await cp.stop()
    return [_sim_row(name, len(nodes), ramp_s, stopped, got)]


def sim_note(joined: int, stopped: str, got: dict[str, float]) -> str:
    """Why a simulated-network row fell short: where the ramp stopped, the first error."""
    note = f"largest N that joined: {joined:,} ({stopped})" if stopped else ""
    if got["errors"]:
        note = (note + "; " if note else "") + f"first error: {got['first_error']}"
    return note


def _sim_row(name: str, joined: int, ramp_s: float, stopped: str, got: dict[str, float]) -> Row:
    note = sim_note(joined, stopped, got)
    return Row(
        "6a",
        name,
        baseline=(
            f"{joined:,} nodes joined in {ramp_s:.0f} s ({joined / ramp_s:.0f}/s; CPU: "
            f"bench client {got['ramp_client_cpu_s']:.1f} s, control plane "
            f"{got['ramp_cp_cpu_s']:.1f} s)"
        ),
        ours=(
            f"{got['jobs_per_s']:.0f} jobs/s routed and streamed; dispatch p50 "
            f"{got['dispatch_p50_ms']:.1f} ms, p99 {got['dispatch_p99_ms']:.1f} ms; "
            f"{got['errors']:.0f} errors of {got['jobs']:.0f}; "
            f"{got['beats_failed']:.0f} heartbeats refused; control plane "
            f"{got['cp_rss_mb']:.0f} MiB RSS"
        ),
        target="all nodes joined, 0 errors",
        verdict=verdict(not stopped and not got["errors"]),
        note=note,
        data={"joined": joined, "ramp_s": ramp_s, **got},
    )
