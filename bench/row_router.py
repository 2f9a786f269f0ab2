"""Row 3: the cost of one routing decision as the network grows.

Times exactly what the job manager does per dispatch: `Placement.place(job)` (the
candidates, the prefix index's nodes holding the start of the prompt, `pick_node`), for
the most popular model (the most candidates, the worst case) and for a mid-popularity
one, over a population from `bench.population`. The prefix index first holds the routing
history of `CONVERSATIONS` conversations per model, spread at random over its nodes
(`APPS` shared system prompts of about 1,000 tokens, each conversation its own history);
each timed job is the next turn of one of them, so the index matches all of its prompt.
Alternated with each decision, the same one without the index (`pick_node` alone, what
the manager did before it) is timed too, so the index's own cost reads off one run.
"""

from __future__ import annotations

import random
import time

from bench.context import Context
from bench.population import MODELS, build_registry
from bench.report import Row, verdict
from bench.stats import percentile
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.placement import Placement
from infernet.controlplane.jobs.prefix_index import Prompt
from infernet.controlplane.jobs.router import pick_node
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.protocol.modelnames import routing_key
from infernet.protocol.wire import ChatMessageIn

TARGET_S = {10_000: 100e-6, 100_000: 1e-3}
BUDGET_S = 5.0  # time limit for the decisions of one size
APPS, CONVERSATIONS = 20, 2_000


def conversation(model: str, number: int, turns: int) -> LiveJob:
    """Turn `turns` of conversation `number`: its app's system prompt, then its history."""
    system = f"You are app {number % APPS}'s assistant. Follow these rules. " * 80
    messages = [ChatMessageIn(role="system", content=system)]
    for turn in range(turns):
        messages.append(ChatMessageIn(role="user", content=f"{number}: question {turn} " * 20))
        messages.append(ChatMessageIn(role="assistant", content=f"answer {turn} " * 60))
    messages.append(ChatMessageIn(role="user", content="and then?"))
    job = LiveJob(
        f"job-{number}", "bench", routing_key(model), JobCreate(model=model, messages=messages), 0.0
    )
    job.prompt = Prompt.of(messages)
    return job


def seeded(placement: Placement, model: str, rng: random.Random) -> None:
    """The index after `CONVERSATIONS` conversations' earlier turns ran on random nodes
    (spread over the network: the most entries, the deepest matches)."""
    nodes = placement.candidates(conversation(model, 0, 0))
    for number in range(CONVERSATIONS):
        for turns in range(number % 4 + 1):
            placement.chosen(conversation(model, number, turns), rng.choice(nodes))


def time_decisions(size: int, decisions: int) -> dict[str, float | int]:
    registry = build_registry(size)
    placement = Placement(registry)
    out: dict[str, float | int] = {"nodes": size}
    rng = random.Random(5)
    for label, model in (("popular", MODELS[0]), ("mid", MODELS[len(MODELS) // 3])):
        key = routing_key(model)
        seeded(placement, model, rng)
        out[f"{label}_candidates"] = len(registry.serving(key))
        samples: list[float] = []
        load_only: list[float] = []  # the same decision without the index, alternated
        deadline = time.perf_counter() + BUDGET_S / 2
        while len(samples) < decisions and time.perf_counter() < deadline:
            number = rng.randrange(CONVERSATIONS)
            job = conversation(model, number, number % 4 + 1)
            started = time.perf_counter()
            placement.place(job)
            samples.append(time.perf_counter() - started)
            started = time.perf_counter()
            pick_node(registry.serving(key), key, registry.offline_after_s)
            load_only.append(time.perf_counter() - started)
        out[f"{label}_p50_us"] = percentile(samples, 50) * 1e6
        out[f"{label}_p99_us"] = percentile(samples, 99) * 1e6
        out[f"{label}_load_only_p50_us"] = percentile(load_only, 50) * 1e6
        out[f"{label}_decisions"] = len(samples)
    out["index_entries"] = placement.index.entries
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
                f"{got['mid_candidates']:,} candidates); prefix index of "
                f"{got['index_entries']:,} entries included (without it: p50 "
                f"{float(got['popular_load_only_p50_us']):.1f} µs)"
            ),
            data=dict(got),
        )
        if target is not None:
            row.target = f"< {target * 1e6:,.0f} µs"
            row.ratio = f"×{p50 / (target * 1e6):.2f} of the budget"
            row.verdict = verdict(p50 < target * 1e6)
        rows.append(row)
    return rows
