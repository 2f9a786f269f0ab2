"""Row 4's channel variant: heartbeats over nodes' already-open job channels.

Each node opens its job channel once (a signed handshake, as the daemon does) and then
beats over it (`NodeBeat`), reading each `BeatReply`; nothing per beat is signed or
verified. Beats are pipelined a window at a time per channel, so the number measured is
what the control plane takes in, not the round trips of a few channels. Only the sending
is timed, and only the server's CPU during it is counted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

from websockets.asyncio.client import ClientConnection, connect

from bench.stats import cpu_seconds
from infernet.protocol.keys import NodeKey
from infernet.protocol.signing import sign_request
from infernet.protocol.wire import NODE_CHANNEL_PATH

WINDOW = 16  # beats in flight per channel
TIME_LIMIT_S = 120.0


async def _open(port: int, key: NodeKey) -> ClientConnection:
    url = f"ws://127.0.0.1:{port}{NODE_CHANNEL_PATH}"
    headers = sign_request(key, "GET", NODE_CHANNEL_PATH)
    return await connect(url, additional_headers=headers, compression=None)


async def _beat(channel: ClientConnection, frame: str, count: int) -> Counter[str]:
    """Send `count` beats on `channel`, `WINDOW` at a time; count the replies by type."""
    answers: Counter[str] = Counter()
    sent = 0
    while sent < count:
        window = min(WINDOW, count - sent)
        for _ in range(window):
            await channel.send(frame)
        got = 0
        while got < window:
            kind = json.loads(await channel.recv()).get("type", "")
            answers[kind] += 1
            got += kind == "beat_reply"
        sent += window
    return answers


async def channel_path(
    pid: int, port: int, keys: list[NodeKey], bodies: list[bytes], total: int
) -> dict[str, float]:
    """`total` beats over one job channel per key in `keys`, split evenly."""
    frames = [f'{{"type":"beat","heartbeat":{body.decode()}}}' for body in bodies]
    channels = [await _open(port, key) for key in keys]
    try:
        per = [total // len(channels) + (i < total % len(channels)) for i in range(len(channels))]
        cpu0, started = cpu_seconds(pid) or 0.0, time.perf_counter()
        async with asyncio.timeout(TIME_LIMIT_S):  # a control plane that ignores beats
            answers = await asyncio.gather(
                *(_beat(c, f, n) for c, f, n in zip(channels, frames, per, strict=False))
            )
        wall = time.perf_counter() - started
        cpu = (cpu_seconds(pid) or 0.0) - cpu0
    finally:
        await asyncio.gather(*(c.close() for c in channels), return_exceptions=True)
    replies = sum(a["beat_reply"] for a in answers)
    return {
        "beats": total,
        "channels": len(channels),
        "errors": total - replies,
        "per_s": total / wall,
        "per_cpu_s": total / cpu if cpu else float("nan"),
        "server_cpu_s": cpu,
    }
