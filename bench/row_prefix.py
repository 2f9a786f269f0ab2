"""Row 7: prefix-aware routing against load-only routing, on real llama.cpp (SmolLM2).

`prefix_nodes` engines on this machine (one thread each), a node daemon in front of each,
and as many clients, each holding a multi-turn conversation: a long system prompt they
all share (`prefix_rules` rules, about 1,100 tokens at full size), then its own history
(a customer record of `prefix_history_days` lines), then a question per turn, with a
think time between turns longer than most answers take (seeded: the same in both
runs), as people read an answer before they ask again. The same conversations (their
records named apart, so no run reuses the other's cache) run twice, one run after the
other on the same warm engines: first through a control plane routing by load alone
(`--load-only`), then through one with the prefix index. Reported per run: TTFT p50/p99
of turns 2 and later, completion tokens per second over the run, and the jobs each node
ran (the most loaded against the mean); every turn is in `prefix-turns.jsonl` in the
work folder. The embedded engine keeps one sequence's cache,
so there is one conversation per node: more would evict each other whatever the router.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import procs
from bench.context import Context
from bench.report import Row, skipped, verdict
from bench.sizes import Sizes
from bench.stats import percentile
from infernet.backends.engine_process import EngineProcess, free_port
from infernet.engine.launch import find_smollm2, start_engine

NAME = "7. Prefix-aware routing on real llama.cpp (SmolLM2)"
MODES = ("load", "prefix")


@dataclass
class Turn:
    conversation: int
    number: int
    ttft: float
    tokens: int
    node: str
    reason: str


@dataclass
class Run:
    turns: list[Turn] = field(default_factory=list)
    wall: float = 0.0
    errors: list[str] = field(default_factory=list)

    def later(self) -> list[float]:
        return [t.ttft for t in self.turns if t.number >= 1]

    def tokens_per_s(self) -> float:
        return sum(t.tokens for t in self.turns) / self.wall if self.wall else 0.0

    def spread(self, nodes: int) -> float:
        """The most jobs a node ran, over the mean per node."""
        counts: dict[str, int] = {}
        for turn in self.turns:
            counts[turn.node] = counts.get(turn.node, 0) + 1
        mean = len(self.turns) / nodes
        return max(counts.values()) / mean if counts else float("nan")


def system_prompt(sizes: Sizes) -> str:
    return "You are the support assistant of Acme Appliances. " + " ".join(
        f"Rule {i}: answer in the customer's language, cite the manual section you used, and "
        f"never promise a refund before checking order {1000 + i * 7}."
        for i in range(sizes.prefix_rules)
    )


def record(conversation: int, mode: str, sizes: Sizes) -> str:
    return f"Customer {conversation} ({mode} run) history: " + " ".join(
        f"On day {day} the customer ordered item {conversation * 100 + day} and asked when "
        "it would arrive."
        for day in range(sizes.prefix_history_days)
    )


async def ask(
    api: httpx.AsyncClient, model: str, messages: list[dict[str, str]], max_tokens: int
) -> tuple[str, Turn]:
    """One streamed answer: its text, and the turn as measured (number and conversation
    filled in by the caller) with the node and routing reason from the job's record."""
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    ttft, text, tokens = 0.0, "", 0
    async with api.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {(await response.aread())[:200]!r}")
        job_id = response.headers["x-infernet-job-id"]
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk: dict[str, Any] = json.loads(line[5:])
            if chunk.get("usage"):
                tokens = int(chunk["usage"]["completion_tokens"])
            for choice in chunk.get("choices", []):
                piece = choice.get("delta", {}).get("content") or ""
                if piece and not text:
                    ttft = time.perf_counter() - started
                text += piece
    job = (await api.get(f"/api/v1/jobs/{job_id}")).json()
    reason = (job.get("routing") or {}).get("reason", "none")
    return text, Turn(-1, -1, ttft, tokens, str(job.get("node_id")), reason)


async def converse(
    api: httpx.AsyncClient, model: str, number: int, mode: str, sizes: Sizes, run: Run
) -> None:
    think = random.Random(number)  # the same think times in both runs
    messages = [{"role": "system", "content": system_prompt(sizes)}]
    messages.append({"role": "user", "content": record(number, mode, sizes)})
    for turn in range(sizes.prefix_turns):
        question = f"Question {turn}: what did the customer order on day {turn}?"
        if turn == 0:
            messages[-1]["content"] += f"\n{question}"
        else:
            messages.append({"role": "user", "content": question})
        try:
            text, measured = await ask(api, model, messages, sizes.prefix_max_tokens)
        except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
            run.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return
        measured.conversation, measured.number = number, turn
        run.turns.append(measured)
        messages.append({"role": "assistant", "content": text})
        await asyncio.sleep(think.uniform(*sizes.prefix_think_s))


def log_turns(ctx: Context, mode: str, run: Run) -> None:
    """Every turn measured, one JSON line each, beside the servers' logs."""
    with (ctx.work / "prefix-turns.jsonl").open("a") as log:
        for turn in run.turns:
            log.write(json.dumps({"mode": mode, **vars(turn)}) + "\n")


async def one_run(ctx: Context, engines: list[EngineProcess], mode: str) -> Run:
    sizes = ctx.sizes
    nodes = len(engines)
    net = await procs.network(
        ctx.work, [e.url for e in engines], nodes=nodes, slots=1, load_only=mode == "load"
    )
    run = Run()
    headers = {"authorization": f"Bearer {net.api_key}"}
    try:
        async with httpx.AsyncClient(base_url=net.url, headers=headers, timeout=600) as api:
            started = time.perf_counter()
            await asyncio.gather(
                *(converse(api, net.model, c, mode, sizes, run) for c in range(nodes))
            )
            run.wall = time.perf_counter() - started
    finally:
        await net.stop()
    return run


async def warm(engines: list[EngineProcess], model: str, sizes: Sizes) -> None:
    """Every engine holds the shared system prompt before either run (as after any
    earlier traffic), so neither run pays its first prefill alone."""
    messages = [
        {"role": "system", "content": system_prompt(sizes)},
        {"role": "user", "content": "hi"},
    ]
    body = {"model": model, "messages": messages, "max_tokens": 1, "temperature": 0.0}
    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(
            *(client.post(f"{e.url}/v1/chat/completions", json=body) for e in engines)
        )


async def prefix_routing(ctx: Context) -> list[Row]:
    try:
        model = find_smollm2()
    except Exception as exc:  # the engine or its model is not installed
        return [skipped("7", NAME, f"llama.cpp engine unavailable: {exc}")]
    count = ctx.sizes.prefix_nodes
    ctx.say(f"row 7: starting {count} llama.cpp engines (one thread each)")
    engines = [
        start_engine(model, free_port(), ctx.work / f"prefix-engine{i}.log", threads=1)
        for i in range(count)
    ]
    try:
        await asyncio.gather(*(e.wait_ready() for e in engines))
        await warm(engines, model.name, ctx.sizes)
        runs: dict[str, Run] = {}
        for mode in MODES:
            ctx.say(f"row 7: {count} conversations, routing by {mode}")
            runs[mode] = await one_run(ctx, engines, mode)
            log_turns(ctx, mode, runs[mode])
        return [_row(runs["load"], runs["prefix"], count)]
    finally:
        for engine in engines:
            await procs.asyncio_to_thread(engine.stop)


def _summary(run: Run, nodes: int) -> dict[str, float]:
    later = run.later()
    return {
        "ttft_p50_s": percentile(later, 50),
        "ttft_p99_s": percentile(later, 99),
        "tok_s": run.tokens_per_s(),
        "spread": run.spread(nodes),
        "later_turns": len(later),
        "cache_routed": sum(1 for t in run.turns if t.number >= 1 and t.reason == "cache"),
    }


def _words(s: dict[str, float]) -> str:
    return (
        f"later-turn TTFT p50 {s['ttft_p50_s']:.2f} s, p99 {s['ttft_p99_s']:.2f} s; "
        f"{s['tok_s']:.2f} tok/s; busiest node {s['spread']:.2f}× the mean"
    )


def _row(load: Run, prefix: Run, nodes: int) -> Row:
    base, ours = _summary(load, nodes), _summary(prefix, nodes)
    faster = base["ttft_p50_s"] / ours["ttft_p50_s"] if ours["ttft_p50_s"] else float("nan")
    throughput = ours["tok_s"] / base["tok_s"] if base["tok_s"] else float("nan")
    errors = "; ".join(load.errors + prefix.errors)
    ok = faster >= 3 and throughput >= 1 and ours["spread"] <= 1.5
    return Row(
        "7",
        NAME,
        baseline=f"load only: {_words(base)}",
        ours=f"prefix-aware: {_words(ours)}; "
        f"{ours['cache_routed']:.0f}/{ours['later_turns']:.0f} later turns routed for the cache",
        ratio=f"TTFT p50 ×{faster:.1f} lower, tok/s ×{throughput:.2f}",
        target="TTFT p50 ≥ 3× lower, tok/s ≥ ×1, busiest node ≤ 1.5× mean",
        verdict="missed" if errors else verdict(ok),
        note=errors[:300],
        data={
            "nodes": nodes,
            **{f"load_{k}": v for k, v in base.items()},
            **{f"prefix_{k}": v for k, v in ours.items()},
            "ttft_p50_ratio": faster,
            "throughput_ratio": throughput,
        },
    )
