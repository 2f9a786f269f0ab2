"""A control plane on loopback with any number of real node daemons attached."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from infernet.backends.base import Backend
from infernet.backends.engine_process import free_port
from infernet.controlplane.settings import Settings
from infernet.localnet import ControlPlaneServer, LocalNode


class Harness:
    def __init__(
        self,
        home: Path,
        settings: Settings | None = None,
        database_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = home
        port = free_port()
        base = settings or Settings()
        # Tests poll fast; the per-key request limits are tested on their own.
        limits = {"key_requests_per_minute": 100_000, "key_requests_per_hour": 1_000_000}
        limits = {k: v for k, v in limits.items() if k not in base.model_fields_set}
        self.settings = base.model_copy(
            update={
                **limits,
                "database_url": database_url or f"sqlite+aiosqlite:///{home / 'cp.db'}",
                "public_url": f"http://127.0.0.1:{port}",
            }
        )
        self.port, self._clock = port, clock
        self.control_plane = ControlPlaneServer(self.settings, port, clock)
        self.url = self.control_plane.url
        self.api_key = ""
        self.nodes: list[LocalNode] = []

    async def start(self) -> None:
        await self.control_plane.start()
        self.api_key = await self.control_plane.create_client_key("tester")

    async def add_node(
        self,
        backend: Backend,
        *,
        served: list[str] | None = None,
        max_concurrent_jobs: int = 1,
        wait: bool = True,
        heartbeat_interval_s: float = 1.0,
        owner: str | None = None,
    ) -> LocalNode:
        """A node daemon on `backend`; owned by the account of API key `owner` (joined with
        its registration token), else by no account (open registration)."""
        models = served if served is not None else [m.name for m in await backend.list_models()]
        node = LocalNode(
            self.home / f"node{len(self.nodes)}",
            self.url,
            backend,
            served_models=models,
            max_concurrent_jobs=max_concurrent_jobs,
            heartbeat_interval_s=heartbeat_interval_s,
        )
        self.nodes.append(node)
        if owner is not None:
            async with self.client(owner) as api:
                token = (await api.post("/api/v1/nodes/registration-tokens")).json()["token"]
            await node.join(token)
        node.start()
        if wait and models:
            before = self.control_plane.routable_nodes(models[0])
            await self.control_plane.wait_serving(models[0], before + 1, timeout=20)
        return node

    async def restart(self, before_start: Callable[[], Awaitable[None]] | None = None) -> None:
        """Stop the control plane without finishing anything (its jobs stay in the
        database as they were, its memory is gone, as after a crash) and start a new one
        on the same database and port; `before_start` runs while none is up."""
        await self.control_plane.stop()
        if before_start is not None:
            await before_start()
        self.control_plane = ControlPlaneServer(self.settings, self.port, self._clock)
        await self.control_plane.start()

    def client(self, api_key: str | None = None) -> httpx.AsyncClient:
        key = self.api_key if api_key is None else api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()
        await self.control_plane.stop()


@asynccontextmanager
async def running(
    home: Path,
    settings: Settings | None = None,
    database_url: str | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Harness]:
    harness = Harness(home, settings, database_url, clock)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
