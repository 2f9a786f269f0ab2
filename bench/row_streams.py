"""Row 5: a thousand client streams at once through one control-plane process.

A few real node daemons (their own process) sit in front of the fast fake engine with
enough slots for every stream, so nothing queues; the control plane process is measured
from /proc: CPU seconds, peak RSS while streaming, RSS a second after. The same burst
runs several times to show whether memory keeps growing. A second row sets the control
plane's idle memory beside LiteLLM's proxy (both measured in row 2 after one request).
"""

from __future__ import annotations

import asyncio
import math

from bench import procs
from bench.context import Context
from bench.httpclient import Connection
from bench.load import Target, run_round
from bench.report import Row, skipped, verdict
from bench.row_relay import ours_target
from bench.stats import RssSampler, cpu_seconds, rss_mb


async def _burst(target: Target, pid: int, ctx: Context) -> dict[str, float | str]:
    conns = [Connection("127.0.0.1", target.port) for _ in range(ctx.sizes.streams)]
    sampler = RssSampler(pid)
    sampler.start()
    cpu0 = cpu_seconds(pid) or 0.0
    try:
        got = await run_round(target, conns, 1, timeout=300)
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    cpu = (cpu_seconds(pid) or 0.0) - cpu0
    peak = await sampler.stop()
    await asyncio.sleep(1.0)
    bad = [r for r in got.results if not r.ok]
    return {
        "errors": len(bad),
        "first_error": bad[0].error if bad else "",
        "wall_s": got.wall,
        "cpu_s": cpu,
        "peak_rss_mb": peak,
        "rss_after_mb": rss_mb(pid) or 0.0,
    }


async def concurrent_streams(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    engine, port = await procs.fake_engine(ctx.work, sizes.fake_chunks)
    net: procs.Network | None = None
    try:
        slots = math.ceil(sizes.streams / sizes.stream_nodes)
        ctx.say(f"row 5: {sizes.stream_nodes} nodes × {slots} slots on the fake engine")
        net = await procs.network(
            ctx.work, f"http://127.0.0.1:{port}", nodes=sizes.stream_nodes, slots=slots
        )
        target = ours_target(net, sizes.fake_chunks)
        pid = net.control_plane.pid
        before = rss_mb(pid) or 0.0
        runs = []
        for index in range(sizes.stream_runs):
            ctx.say(f"row 5: run {index + 1}: {sizes.streams:,} streams at once")
            runs.append(await _burst(target, pid, ctx))
    finally:
        if net is not None:
            await net.stop()
        await engine.stop()
    return [_streams_row(ctx, before, runs), _idle_row(ctx)]


def _streams_row(ctx: Context, before: float, runs: list[dict[str, float | str]]) -> Row:
    errors = sum(int(r["errors"]) for r in runs)
    after = [float(r["rss_after_mb"]) for r in runs]
    growth = after[-1] - after[0]
    per_run = "; ".join(
        f"run {i + 1}: {r['errors']:.0f} errors, {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, "
        f"peak {r['peak_rss_mb']:.0f} MiB, after {r['rss_after_mb']:.0f} MiB"
        for i, r in enumerate(runs)
    )
    first = next((str(r["first_error"]) for r in runs if r["errors"]), "")
    return Row(
        "5a",
        f"5. {ctx.sizes.streams:,} concurrent client streams through one control plane, "
        f"{len(runs)} runs",
        baseline=f"RSS before: {before:.0f} MiB",
        ours=per_run,
        ratio=f"RSS after last run ×{after[-1] / after[0]:.2f} of after first (+{growth:.0f} MiB)",
        target="0 errors; no growth across runs",
        verdict=verdict(errors == 0 and growth <= 0.05 * after[0]),
        note=f"first error: {first}" if first else "",
        data=_flatten(before, errors, growth, runs),
    )


def _flatten(
    before: float, errors: int, growth: float, runs: list[dict[str, float | str]]
) -> dict[str, float | int | str | None]:
    data: dict[str, float | int | str | None] = {
        "rss_before_mb": before,
        "errors": errors,
        "growth_mb": growth,
    }
    for i, run in enumerate(runs):
        data |= {f"run{i + 1}_{k}": v for k, v in run.items()}
    return data


def _idle_row(ctx: Context) -> Row:
    name = "5. Idle RSS: our control plane beside LiteLLM's proxy"
    ours = ctx.shared.get("ours_idle_rss_mb")
    peer = ctx.shared.get("litellm_idle_rss_mb")
    if ours is None:
        return skipped("5b", name, "row 2 did not run")
    if peer is None:
        row = skipped("5b", name, "LiteLLM not installed (run scripts/bench.sh)")
        row.ours = f"{ours:.0f} MiB"
        return row
    return Row(
        "5b",
        name,
        ours=f"{ours:.0f} MiB",
        peer=f"{peer:.0f} MiB",
        ratio=f"×{ours / peer:.2f}",
        target="below LiteLLM's",
        verdict=verdict(ours < peer),
        data={"ours_idle_rss_mb": ours, "litellm_idle_rss_mb": peer},
    )
