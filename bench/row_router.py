"""Row 3: the cost of one routing decision as the network grows.

Times exactly what the job manager does per dispatch: `pick_node(registry.serving(key),
key, offline_after_s)`, for the most popular model (the most candidates, the worst case)
and for a mid-popularity one, over a population from `bench.population`.
"""

from __future__ import annotations

import time

from bench.context import Context
from bench.population import MODELS, build_registry
from bench.report import Row, verdict
from bench.stats import percentile
from infernet.controlplane.jobs.router import pick_node
from infernet.protocol.modelnames import routing_key

TARGET_S = {10_000: 100e-6, 100_000: 1e-3}
BUDGET_S = 5.0  # time limit for the decisions of one size


def time_decisions(size: int, decisions: int) -> dict[str, float | int]:
    registry = build_registry(size)
    out: dict[str, float | int] = {"nodes": size}
    for label, model in (("popular", MODELS[0]), ("mid", MODELS[len(MODELS) // 3])):
        key = routing_key(model)
        out[f"{label}_candidates"] = len(registry.serving(key))
        samples: list[float] = []
        deadline = time.perf_counter() + BUDGET_S / 2
        while len(samples) < decisions and time.perf_counter() < deadline:
            started = time.perf_counter()
            pick_node(registry.serving(key), key, registry.offline_after_s)
            samples.append(time.perf_counter() - started)
        out[f"{label}_p50_us"] = percentile(samples, 50) * 1e6
        out[f"{label}_p99_us"] = percentile(samples, 99) * 1e6
        out[f"{label}_decisions"] = len(samples)
    return out


async def router(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    for size in ctx.sizes.router_nodes:
        ctx.say(f"row 3: router with {size:,} nodes")
        got = time_decisions(size, ctx.sizes.router_decisions)
        p50 = float(got["popular_p50_us"])
        target = TARGET_S.get(size)
        row = Row(
            f"3{'abcdefgh'[len(rows)]}",
            f"3. Router: one decision among {size:,} registered nodes",
            ours=(
                f"p50 {p50:.1f} µs, p99 {float(got['popular_p99_us']):.1f} µs "
                f"(most popular model, {got['popular_candidates']:,} candidates); "
                f"p50 {float(got['mid_p50_us']):.1f} µs (mid model, "
                f"{got['mid_candidates']:,} candidates)"
            ),
            data=dict(got),
        )
        if target is not None:
            row.target = f"< {target * 1e6:,.0f} µs"
            row.ratio = f"×{p50 / (target * 1e6):.2f} of the budget"
            row.verdict = verdict(p50 < target * 1e6)
        rows.append(row)
    return rows
