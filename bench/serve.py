"""The servers the benchmark measures, each run as its own process.

`python -m bench.serve controlplane --port P --home DIR` runs one control plane (the real
`ControlPlaneServer`, embedded SQLite), creates a client API key and prints one JSON line
`{"url", "api_key"}` once it is listening. With `--db URL --redis URL --replica-id ID` it
is one replica of several sharing PostgreSQL and Redis, with the same settings
`infernet cp serve --db --redis --replica-id` gives it; with `--load-only` it routes by
load alone (no prefix index).
`python -m bench.serve nodes --control-plane URL --engine URL --count N --slots S
--home DIR` runs N real node daemons (`LocalNode`, the llama.cpp adapter) in front of
one OpenAI-compatible engine (or, with `--engine` given N times, one node per engine)
and prints `{"ready": N}` once
the control plane reports every one of them online. Keeping them in separate processes
lets the benchmark read the control plane's own CPU time and memory from /proc.
Both stop cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

import httpx

from infernet import event_loop
from infernet.backends.llamacpp import LlamaCppBackend
from infernet.controlplane.settings import Settings
from infernet.localnet import ControlPlaneServer, LocalNode

UNLIMITED = 1_000_000_000
RATE_LIMITS = (
    "key_requests_per_minute",
    "key_requests_per_hour",
    "key_max_requests_per_minute",
    "key_max_requests_per_hour",
)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def control_plane(
    port: int,
    home: Path,
    heartbeat_interval_s: float,
    shared: dict[str, str | None] | None = None,
    prefix_routing: bool = True,
) -> None:
    """`shared`: `database_url`, `redis_url` and `replica_id` of a multi-replica setup."""
    stop = _stop_event()
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        **(shared or {"database_url": f"sqlite+aiosqlite:///{home / 'cp.db'}"}),
        public_url=f"http://127.0.0.1:{port}",
        heartbeat_interval_s=heartbeat_interval_s,
        prefix_routing=prefix_routing,
        # The benchmark's one client key sends far more than the Book's default 60 requests
        # a minute; the limiter still runs on every request, it just never says no.
        **{name: UNLIMITED for name in RATE_LIMITS if name in Settings.model_fields},
    )
    server = ControlPlaneServer(settings, port)
    await server.start()
    api_key = await server.create_client_key("bench")
    print(json.dumps({"url": server.url, "api_key": api_key}), flush=True)
    await stop.wait()
    await server.stop()


async def _wait_online(url: str, node_ids: list[str], timeout: float = 60.0) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client, asyncio.timeout(timeout):
        for node_id in node_ids:
            while True:
                reply = await client.get(f"/api/v1/nodes/{node_id}/status")
                if reply.status_code == 200 and reply.json()["status"] == "online":
                    break
                await asyncio.sleep(0.05)


async def nodes(
    url: str, engines: list[str], count: int, slots: int, home: Path, heartbeat_interval_s: float
) -> None:
    stop = _stop_event()
    probe = LlamaCppBackend(engines[0])
    model = (await probe.list_models())[0].name
    await probe.close()
    daemons = [
        LocalNode(
            home / f"node{i}",
            url,
            LlamaCppBackend(engines[i % len(engines)]),
            name=f"bench{i}",
            served_models=[model],
            max_concurrent_jobs=slots,
            heartbeat_interval_s=heartbeat_interval_s,
        )
        for i in range(count)
    ]
    for node in daemons:
        node.start()
    async with asyncio.timeout(60):
        while any(n.node_id is None for n in daemons):
            for node in daemons:
                node.check()
            await asyncio.sleep(0.05)
    await _wait_online(url, [n.node_id for n in daemons if n.node_id])
    print(json.dumps({"ready": count, "model": model}), flush=True)
    await stop.wait()
    for node in daemons:
        await node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    sub = parser.add_subparsers(dest="role", required=True)
    cp = sub.add_parser("controlplane")
    cp.add_argument("--port", type=int, required=True)
    cp.add_argument("--home", type=Path, required=True)
    cp.add_argument("--heartbeat-interval", type=float, default=30.0)
    cp.add_argument("--db", help="a shared database URL (default: SQLite in --home)")
    cp.add_argument("--redis", help="the Redis URL shared by several replicas")
    cp.add_argument("--replica-id", help="this replica's name")
    cp.add_argument("--load-only", action="store_true", help="route by load alone")
    nd = sub.add_parser("nodes")
    nd.add_argument("--control-plane", required=True)
    nd.add_argument("--engine", required=True, action="append", help="once, or once a node")
    nd.add_argument("--count", type=int, default=1)
    nd.add_argument("--slots", type=int, default=8)
    nd.add_argument("--home", type=Path, required=True)
    nd.add_argument("--heartbeat-interval", type=float, default=30.0)
    args = parser.parse_args()
    if args.role == "controlplane":
        shared: dict[str, str | None] | None = None
        if args.db:
            shared = {
                "database_url": args.db,
                "redis_url": args.redis,
                "replica_id": args.replica_id,
            }
        event_loop.run(
            control_plane(args.port, args.home, args.heartbeat_interval, shared, not args.load_only)
        )
    else:
        event_loop.run(
            nodes(
                args.control_plane,
                args.engine,
                args.count,
                args.slots,
                args.home,
                args.heartbeat_interval,
            )
        )


if __name__ == "__main__":
    main()
