"""Rows 1 and 2: what the relay (control plane + node) adds to a streamed answer.

Row 1 runs the real llama.cpp engine (SmolLM2-135M) and compares calling it directly with
calling it through a control plane and a node, at each concurrency. Row 2 puts a fast fake
engine (no model, no delay) behind three doors at once: the engine itself, our control
plane (+ node) and LiteLLM's proxy, so what each adds is all that changes. Requests
alternate between the doors round by round (see `load.interleaved`).
"""

from __future__ import annotations

import math

from bench import procs
from bench.context import Context
from bench.fake_engine import MODEL as FAKE_MODEL
from bench.load import Summary, Target, book_body, interleaved, json_headers, openai_body
from bench.report import Row, skipped, verdict
from bench.stats import rss_mb, tree_rss_mb
from infernet.backends.engine_process import free_port
from infernet.controlplane.app import create_app
from infernet.engine.launch import find_smollm2, start_engine

PROMPT = "Write one sentence about the sea."


def ours_speaks_openai() -> bool:
    """True once the control plane serves `POST /v1/chat/completions`."""
    return "/v1/chat/completions" in create_app().openapi().get("paths", {})


def ours_target(net: procs.Network, max_tokens: int) -> Target:
    headers = json_headers(net.api_key)
    if ours_speaks_openai():
        body = openai_body(net.model, max_tokens, PROMPT)
        return Target("ours", net.port, "/v1/chat/completions", body, "openai", headers)
    body = book_body(net.model, max_tokens, PROMPT)
    return Target("ours", net.port, "/api/v1/jobs", body, "book", headers)


def _errors(*summaries: Summary) -> str:
    bad = [f"{s.name}: {s.errors} errors ({s.first_error})" for s in summaries if s.errors]
    return "; ".join(bad)


async def relay_llamacpp(ctx: Context) -> list[Row]:
    name = "1. Relay on real llama.cpp (SmolLM2)"
    try:
        model = find_smollm2()
    except Exception as exc:  # the engine or its model is not installed
        return [skipped("1", name, f"llama.cpp engine unavailable: {exc}")]
    sizes = ctx.sizes
    engine_port = free_port()
    engine = start_engine(model, engine_port, ctx.work / "engine.log")
    net: procs.Network | None = None
    try:
        ctx.say("row 1: starting llama.cpp, a control plane and a node")
        slots = max(sizes.llama_concurrency)
        ready = engine.wait_ready()
        net = await procs.network(ctx.work, engine.url, nodes=1, slots=slots, engine_ready=ready)
        direct = Target(
            "direct",
            engine_port,
            "/v1/chat/completions",
            openai_body(model.name, sizes.llama_max_tokens, PROMPT),
            "openai",
            json_headers(),
        )
        ours = ours_target(net, sizes.llama_max_tokens)
        rows: list[Row] = []
        for c in sizes.llama_concurrency:
            ctx.say(f"row 1: concurrency {c}, {sizes.llama_rounds} rounds")
            per_client = math.ceil(sizes.llama_requests / (c * sizes.llama_rounds))
            got = await interleaved([direct, ours], c, sizes.llama_rounds, per_client)
            row_id = f"1{'abcdefgh'[len(rows)]}"
            rows.append(_llama_row(row_id, name, c, got["direct"], got["ours"]))
        return rows
    finally:
        if net is not None:
            await net.stop()
        await procs.asyncio_to_thread(engine.stop)


def _llama_row(row_id: str, name: str, c: int, direct: Summary, ours: Summary) -> Row:
    ttft_ratio = ours.p50 / direct.p50
    tps_ratio = ours.tokens_per_s / direct.tokens_per_s
    errors = _errors(direct, ours)
    return Row(
        row_id,
        f"{name}, concurrency {c}",
        baseline=f"direct: TTFT p50 {direct.p50 * 1000:.1f} ms, {direct.tokens_per_s:.1f} tok/s",
        ours=f"relayed: TTFT p50 {ours.p50 * 1000:.1f} ms, {ours.tokens_per_s:.1f} tok/s",
        ratio=f"TTFT ×{ttft_ratio:.3f}, tok/s ×{tps_ratio:.3f}",
        target="TTFT ≤ ×1.05, tok/s ≥ ×0.97",
        verdict="missed" if errors else verdict(ttft_ratio <= 1.05 and tps_ratio >= 0.97),
        note=errors,
        data={
            "concurrency": c,
            "direct_ttft_p50_ms": direct.p50 * 1000,
            "ours_ttft_p50_ms": ours.p50 * 1000,
            "direct_tok_s": direct.tokens_per_s,
            "ours_tok_s": ours.tokens_per_s,
            "ttft_ratio": ttft_ratio,
            "throughput_ratio": tps_ratio,
            "requests_each": len(direct.ttfts),
        },
    )


async def pure_overhead(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    engine, port = await procs.fake_engine(ctx.work, sizes.fake_chunks, ctx.fake_port)
    proxy = ctx.early_litellm
    if proxy is None and ctx.use_litellm:
        proxy = procs.start_litellm(ctx.work, port, FAKE_MODEL)
    ctx.early_litellm = None  # stopped below, whatever happens
    net: procs.Network | None = None
    try:
        ctx.say("row 2: starting the fake engine, a control plane + node, and LiteLLM's proxy")
        slots = max(sizes.fake_concurrency)
        net = await procs.network(ctx.work, f"http://127.0.0.1:{port}", nodes=1, slots=slots)
        targets = [
            Target(
                "direct",
                port,
                "/v1/chat/completions",
                openai_body(net.model, sizes.fake_chunks, PROMPT),
                "openai",
                json_headers(),
            ),
            ours_target(net, sizes.fake_chunks),
        ]
        if proxy is not None:
            await procs.litellm_ready(proxy)
            body = openai_body(proxy.model, sizes.fake_chunks, PROMPT)
            headers = json_headers(proxy.master_key)
            targets.append(
                Target("litellm", proxy.port, "/v1/chat/completions", body, "openai", headers)
            )
        await interleaved(targets, 1, 0)  # one warm request each, then idle memory
        ctx.shared["ours_idle_rss_mb"] = rss_mb(net.control_plane.pid) or 0.0
        if proxy is not None:
            ctx.shared["litellm_idle_rss_mb"] = tree_rss_mb(proxy.child.pid) or 0.0
        rows: list[Row] = []
        for c in sizes.fake_concurrency:
            ctx.say(f"row 2: concurrency {c}, {sizes.fake_rounds} rounds")
            got = await interleaved(targets, c, sizes.fake_rounds, sizes.fake_per_client)
            rows.append(_overhead_row(f"2{'abcdefgh'[len(rows)]}", c, sizes.fake_chunks, got))
        return rows
    finally:
        if net is not None:
            await net.stop()
        if proxy is not None:
            await proxy.child.stop()
        await engine.stop()


def _added(s: Summary, direct: Summary) -> tuple[float, float, float]:
    return (
        (s.p50 - direct.p50) * 1000,
        (s.p99 - direct.p99) * 1000,
        s.tokens_per_s / direct.tokens_per_s,
    )


def _overhead_target(c: int, direct: Summary, ours: Summary) -> tuple[str, bool]:
    """Issue #20's target at concurrency `c`, and whether ours meets it."""
    if c == 1:
        added50, added99 = (ours.p50 - direct.p50) * 1000, (ours.p99 - direct.p99) * 1000
        return "added ≤ 3 ms p50, ≤ 6 ms p99", added50 <= 3 and added99 <= 6
    ok = ours.tokens_per_s >= 0.40 * direct.tokens_per_s and ours.p99 <= 2 * direct.p99
    return "tok/s ≥ ×0.40 of direct, TTFT p99 ≤ ×2 of direct's", ok


def _overhead_row(row_id: str, c: int, chunks: int, got: dict[str, Summary]) -> Row:
    direct, ours = got["direct"], got["ours"]
    o50, o99, otp = _added(ours, direct)
    target, met = _overhead_target(c, direct, ours)
    errors = _errors(*got.values())
    row = Row(
        row_id,
        f"2. Pure relay overhead, fake engine ({chunks} chunks), concurrency {c}",
        baseline=(
            f"direct: TTFT p50 {direct.p50 * 1000:.2f} ms, p99 {direct.p99 * 1000:.2f} ms, "
            f"{direct.tokens_per_s:.0f} tok/s"
        ),
        ours=f"+{o50:.2f} ms p50, +{o99:.2f} ms p99, tok/s ×{otp:.3f}",
        ratio=f"TTFT p99 ×{ours.p99 / direct.p99:.2f} of direct's",
        target=target,
        verdict="missed" if errors else verdict(met),
        note=errors,
        data={
            "concurrency": c,
            "direct_ttft_p50_ms": direct.p50 * 1000,
            "direct_ttft_p99_ms": direct.p99 * 1000,
            "direct_tok_s": direct.tokens_per_s,
            "ours_added_p50_ms": o50,
            "ours_added_p99_ms": o99,
            "ours_throughput_ratio": otp,
            "requests_each": len(direct.ttfts),
        },
    )
    peer = got.get("litellm")
    if peer is None:
        row.peer = "skipped: LiteLLM not installed (run scripts/bench.sh)"
        return row
    p50, p99, ptp = _added(peer, direct)
    row.peer = f"+{p50:.2f} ms p50, +{p99:.2f} ms p99, tok/s ×{ptp:.3f}"
    row.ratio += f"; added p50 ×{o50 / p50:.2f}, p99 ×{o99 / p99:.2f} of LiteLLM's"
    row.data |= {
        "litellm_added_p50_ms": p50,
        "litellm_added_p99_ms": p99,
        "litellm_throughput_ratio": ptp,
    }
    return row
