"""Row 4: signed heartbeats verified and applied per second by one control-plane process.

Three paths, side by side: the pure function path (what the handler does per beat,
minus HTTP: verify the X-Infernet-Auth signature, parse the body, find the node, apply
the beat to the registry), the whole HTTP path (`POST /api/v1/heartbeat` against a
control plane process with many registered nodes; row 4a), and beats over the nodes'
open job channels (bench/beat_channel.py; row 4b), the way a node with its channel open
beats. HTTP beats are signed beforehand, so the client's signing cost is not counted;
each carries a fresh nonce, as a real one does.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter

from bench import procs
from bench.beat_channel import channel_path
from bench.context import Context
from bench.httpclient import Connection, post_json
from bench.population import heartbeat_for
from bench.report import Row, verdict
from bench.stats import cpu_seconds
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.protocol.keys import NodeKey
from infernet.protocol.signing import RequestVerifier, sign_request
from infernet.protocol.wire import Heartbeat

PATH = "/api/v1/heartbeat"
TARGET_PER_S = 5_000
SIGNED_CHUNK = 2_000
Signed = tuple[dict[str, str], bytes, NodeKey]


def sign_beats(
    keys: list[NodeKey], bodies: list[bytes], count: int, offset: int = 0
) -> list[Signed]:
    out = []
    for i in range(offset, offset + count):
        key, body = keys[i % len(keys)], bodies[i % len(bodies)]
        out.append((sign_request(key, "POST", PATH, body), body, key))
    return out


async def pure_path(nodes: int, beats: int) -> dict[str, float]:
    rng = random.Random(3)
    keys = [NodeKey.generate() for _ in range(nodes)]
    bodies = [heartbeat_for(rng).model_dump_json().encode() for _ in keys]
    registry, verifier = NodeRegistry(90.0), RequestVerifier()
    for i, key in enumerate(keys):
        registry.ensure(f"node_{i:06d}", key.public_hex)
    signed = sign_beats(keys, bodies, beats)
    timings = {"verify": 0.0, "parse": 0.0, "apply": 0.0}
    clock = time.perf_counter
    started = clock()
    for headers, body, _ in signed:
        t0 = clock()
        signer = await verifier.verify(headers, "POST", PATH, body)
        t1 = clock()
        beat = Heartbeat.model_validate_json(body)
        t2 = clock()
        node_id = registry.node_for_key(signer)
        state = registry.get(node_id) if node_id else None
        assert state is not None
        registry.apply_heartbeat(state, beat)
        t3 = clock()
        timings["verify"] += t1 - t0
        timings["parse"] += t2 - t1
        timings["apply"] += t3 - t2
    elapsed = clock() - started
    return {
        "beats": beats,
        "per_s": beats / elapsed,
        **{f"{k}_us": v / beats * 1e6 for k, v in timings.items()},
    }


async def _register(port: int, keys: list[NodeKey], concurrency: int = 16) -> int:
    path = "/api/v1/node/register"
    failures = 0

    async def one(key: NodeKey) -> None:
        nonlocal failures
        body = json.dumps({"public_key": key.public_hex, "name": "bench"}).encode()
        headers = {"content-type": "application/json", **sign_request(key, "POST", path, body)}
        status, _ = await post_json("127.0.0.1", port, path, body, headers)
        failures += status != 200

    for start in range(0, len(keys), concurrency):
        await asyncio.gather(*(one(k) for k in keys[start : start + concurrency]))
    return failures


async def _send(port: int, signed: list[Signed], concurrency: int) -> Counter[int]:
    """Send every beat over ``concurrency`` keep-alive connections; count answers by status."""
    queue = list(reversed(signed))
    statuses: Counter[int] = Counter()

    async def worker() -> None:
        conn = Connection("127.0.0.1", port)
        try:
            while queue:
                headers, body, _ = queue.pop()
                response = await conn.request(
                    "POST", PATH, body, {"content-type": "application/json", **headers}
                )
                await response.read()
                statuses[response.status] += 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def _errors(statuses: Counter[int]) -> int:
    return sum(n for status, n in statuses.items() if status != 200)


async def _timed_chunks(
    pid: int, port: int, keys: list[NodeKey], bodies: list[bytes], total: int, concurrency: int
) -> tuple[Counter[int], float, float]:
    """Send ``total`` beats in chunks signed just before each is sent (a signature is
    valid for ±30 s, and a slow run must not fail on stale clocks); only the sending is
    timed, and only the server's CPU during it is counted."""
    statuses: Counter[int] = Counter()
    wall = cpu = 0.0
    for start in range(0, total, SIGNED_CHUNK):
        signed = sign_beats(keys, bodies, min(SIGNED_CHUNK, total - start), offset=start)
        cpu0, started = cpu_seconds(pid) or 0.0, time.perf_counter()
        statuses += await _send(port, signed, concurrency)
        wall += time.perf_counter() - started
        cpu += (cpu_seconds(pid) or 0.0) - cpu0
    return statuses, wall, cpu


async def server_paths(ctx: Context) -> tuple[dict[str, float], dict[str, float]]:
    """The HTTP path, then the channel path, against one control-plane process."""
    sizes = ctx.sizes
    port = procs.free_port()
    cp = procs.Child(
        "control plane",
        procs.python_module(
            "bench.serve", "controlplane", "--port", str(port), "--home", str(ctx.work / "hb")
        ),
        ctx.work / "controlplane-heartbeat.log",
    ).start()
    try:
        await cp.ready(60)
        rng = random.Random(5)
        keys = [NodeKey.generate() for _ in range(sizes.heartbeat_nodes)]
        ctx.say(f"row 4: registering {len(keys):,} nodes over HTTP")
        failed = await _register(port, keys)
        bodies = [heartbeat_for(rng).model_dump_json().encode() for _ in keys]
        await _send(port, sign_beats(keys, bodies, len(keys)), 16)  # first beats: DB writes
        total = sizes.heartbeat_http_beats
        ctx.say(f"row 4: {total:,} signed heartbeats over HTTP")
        statuses, wall, cpu = await _timed_chunks(
            cp.pid, port, keys, bodies, total, sizes.heartbeat_http_concurrency
        )
        ctx.say(f"row 4: {total:,} heartbeats over {sizes.heartbeat_channels} job channels")
        channels = sizes.heartbeat_channels
        channel = await channel_path(cp.pid, port, keys[:channels], bodies[:channels], total)
    finally:
        await cp.stop()
    return {
        "beats": total,
        "nodes": len(keys),
        "register_failures": failed,
        "errors": _errors(statuses),
        **{f"status_{status}": n for status, n in sorted(statuses.items()) if status != 200},
        "per_s": total / wall,
        "per_cpu_s": total / cpu if cpu else float("nan"),
        "server_cpu_s": cpu,
    }, channel


async def heartbeat_ingest(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    ctx.say(f"row 4: {sizes.heartbeat_beats:,} heartbeats through the pure function path")
    pure = await pure_path(sizes.heartbeat_nodes, sizes.heartbeat_beats)
    http, channel = await server_paths(ctx)
    by_status = ", ".join(
        f"{n:.0f}× {key.removeprefix('status_')}"
        for key, n in http.items()
        if key.startswith("status_")
    )
    problems = (
        f"{http['errors']:.0f} HTTP errors ({by_status}), "
        f"{http['register_failures']:.0f} failed registrations"
    )
    bad = http["errors"] or http["register_failures"]
    return [
        Row(
            "4a",
            f"4. Heartbeat ingest, one process ({sizes.heartbeat_nodes:,} nodes registered)",
            baseline=(
                f"function path: {pure['per_s']:,.0f}/s (verify {pure['verify_us']:.0f} µs, "
                f"parse {pure['parse_us']:.0f} µs, apply {pure['apply_us']:.0f} µs per beat)"
            ),
            ours=(
                f"HTTP: {http['per_s']:,.0f}/s wall, {http['per_cpu_s']:,.0f} per server "
                f"CPU-second (client on the same cores)"
            ),
            ratio=f"HTTP ×{http['per_s'] / pure['per_s']:.2f} of the function path",
            target=f"≥ {TARGET_PER_S:,}/s",
            verdict="missed" if bad else verdict(http["per_s"] >= TARGET_PER_S),
            note=problems if bad else "",
            data={
                **{f"pure_{k}": v for k, v in pure.items()},
                **{f"http_{k}": v for k, v in http.items()},
            },
        ),
        _channel_row(sizes.heartbeat_nodes, pure, channel),
    ]


def _channel_row(nodes: int, pure: dict[str, float], channel: dict[str, float]) -> Row:
    bad = channel["errors"]
    return Row(
        "4b",
        f"4. Heartbeat ingest over open job channels, one process ({nodes:,} nodes registered)",
        baseline=f"function path: {pure['per_s']:,.0f}/s (with a signature check per beat)",
        ours=(
            f"channel: {channel['per_s']:,.0f}/s wall over {channel['channels']:.0f} channels, "
            f"{channel['per_cpu_s']:,.0f} per server CPU-second (client on the same cores)"
        ),
        ratio=f"channel ×{channel['per_s'] / pure['per_s']:.2f} of the function path",
        target=f"≥ {TARGET_PER_S:,}/s",
        verdict="missed" if bad else verdict(channel["per_s"] >= TARGET_PER_S),
        note=f"{bad:.0f} beats unanswered" if bad else "",
        data={f"channel_{k}": v for k, v in channel.items()},
    )
