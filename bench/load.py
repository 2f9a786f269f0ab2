"""Streaming load: many clients reading SSE answers at once, timed token by token.

A `Target` is one way to ask for the same answer (the engine directly, our control plane,
LiteLLM's proxy). `interleaved` runs rounds of `concurrency` clients against each target
in turn, rotating the order every round, so slow drifts of a noisy machine land on every
target alike. Each client keeps its connection alive between requests, as an SDK would.
Time to first token (TTFT) is measured to the first non-empty piece of text.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Literal

from bench.httpclient import Connection, HttpError
from bench.stats import percentile

Kind = Literal["openai", "book"]


@dataclass(frozen=True)
class Target:
    name: str
    port: int
    path: str
    body: bytes
    kind: Kind
    headers: dict[str, str] = field(default_factory=dict)


def openai_body(model: str, max_tokens: int, prompt: str, **extra: object) -> bytes:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
        **extra,
    }
    return json.dumps(body).encode()


def book_body(model: str, max_tokens: int, prompt: str) -> bytes:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": 1,
        "stream": True,
    }
    return json.dumps(body).encode()


def json_headers(bearer: str | None = None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if bearer:
        headers["authorization"] = f"Bearer {bearer}"
    return headers


@dataclass
class StreamResult:
    ok: bool
    ttft: float = 0.0
    total: float = 0.0
    tokens: int = 0
    error: str = ""


def _piece(obj: dict[str, object], kind: Kind) -> str:
    if kind == "book":
        text = obj.get("text")
        return text if isinstance(text, str) else ""
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        return ""
    delta = choices[0].get("delta") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


async def stream_once(conn: Connection, target: Target) -> StreamResult:
    started = time.perf_counter()
    try:
        response = await conn.request("POST", target.path, target.body, target.headers)
        if response.status != 200:
            body = (await response.read())[:200].decode(errors="replace")
            return StreamResult(False, error=f"HTTP {response.status}: {body}")
        ttft, tokens, done = 0.0, 0, False
        async for line in response.lines():
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                continue
            obj = json.loads(data)
            if "error" in obj:
                return StreamResult(False, error=f"stream error: {str(obj)[:200]}")
            if _piece(obj, target.kind):
                tokens += 1
                if tokens == 1:
                    ttft = time.perf_counter() - started
    except (HttpError, OSError, ValueError) as exc:
        await conn.close()
        return StreamResult(False, error=f"{type(exc).__name__}: {exc}")
    if not done or tokens == 0:
        return StreamResult(False, error="stream ended without [DONE] or without text")
    return StreamResult(True, ttft, time.perf_counter() - started, tokens)


@dataclass
class Round:
    wall: float
    results: list[StreamResult]


async def run_round(
    target: Target, conns: list[Connection], per_client: int, timeout: float = 300.0
) -> Round:
    async def client(conn: Connection) -> list[StreamResult]:
        return [await stream_once(conn, target) for _ in range(per_client)]

    started = time.perf_counter()
    async with asyncio.timeout(timeout):
        batches = await asyncio.gather(*(client(c) for c in conns))
    return Round(time.perf_counter() - started, [r for batch in batches for r in batch])


@dataclass
class Summary:
    name: str
    ttfts: list[float]
    tokens: int
    wall: float
    errors: int
    first_error: str

    @property
    def p50(self) -> float:
        return percentile(self.ttfts, 50)

    @property
    def p99(self) -> float:
        return percentile(self.ttfts, 99)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall if self.wall else 0.0


def summarize(name: str, rounds: list[Round]) -> Summary:
    results = [r for rnd in rounds for r in rnd.results]
    good = [r for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    return Summary(
        name,
        [r.ttft for r in good],
        sum(r.tokens for r in good),
        sum(rnd.wall for rnd in rounds),
        len(bad),
        bad[0].error if bad else "",
    )


async def interleaved(
    targets: list[Target], concurrency: int, rounds: int, per_client: int = 1
) -> dict[str, Summary]:
    """Warm each target up once, then `rounds` rounds per target in rotating order."""
    pools = {t.name: [Connection("127.0.0.1", t.port) for _ in range(concurrency)] for t in targets}
    done: dict[str, list[Round]] = {t.name: [] for t in targets}
    try:
        for target in targets:
            await run_round(target, pools[target.name], 1)
        for index in range(rounds):
            shift = index % len(targets)
            for target in targets[shift:] + targets[:shift]:
                done[target.name].append(await run_round(target, pools[target.name], per_client))
    finally:
        for pool in pools.values():
            await asyncio.gather(*(c.close() for c in pool))
    return {name: summarize(name, rounds_) for name, rounds_ in done.items()}
