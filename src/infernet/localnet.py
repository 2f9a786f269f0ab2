"""A whole Infernet network on one machine: control plane + one node + llama.cpp.

`infernet up` runs this in the foreground; the end-to-end tests run it too, so what a
newcomer sees is exactly what the tests check. Everything binds to 127.0.0.1. The
control plane and the node run in this process (as they would in two); the engine is a
child process, as a real llama-server would be.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from infernet.backends.llamacpp import LlamaCppBackend
from infernet.controlplane.app import create_app
from infernet.controlplane.services import Services
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.accounts import create_account, issue_key
from infernet.engine.launch import EngineProcess, find_smollm2, free_port
from infernet.node.config import NodeConfig, save_config
from infernet.node.daemon import NodeDaemon
from infernet.protocol.keys import NodeKey
from infernet.protocol.modelnames import routing_key


@dataclass
class LocalNetwork:
    home: Path
    port: int = 8700
    engine_port: int | None = None
    heartbeat_interval_s: float = 30.0
    model_path: Path = field(default_factory=find_smollm2)
    api_key: str = ""

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self._tasks: list[asyncio.Task[None]] = []
        self.engine: EngineProcess | None = None
        self.daemon: NodeDaemon | None = None
        self._server: uvicorn.Server | None = None

    @property
    def model_name(self) -> str:
        return self.model_path.name

    @property
    def services(self) -> Services:
        services: Services = self._app.state.services
        return services

    async def start_engine(self) -> EngineProcess:
        port = free_port(self.engine_port or 8080)
        self.engine = EngineProcess(self.model_path, port, log_file=self.home / "engine.log")
        await asyncio.to_thread(self.engine.wait_ready)
        return self.engine

    async def start_control_plane(self) -> None:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{self.home / 'controlplane.db'}",
            public_url=self.url,
            heartbeat_interval_s=self.heartbeat_interval_s,
        )
        self._app = create_app(settings)
        config = uvicorn.Config(
            self._app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._tasks.append(asyncio.create_task(self._server.serve()))
        while not self._server.started:
            if self._tasks[-1].done():
                self._tasks[-1].result()  # raises why it could not start (port in use, ...)
                raise RuntimeError("the control plane stopped during start-up")
            await asyncio.sleep(0.05)

    async def create_client_key(self) -> str:
        db = self.services.db
        account = await create_account(db, "local")
        self.api_key = (await issue_key(db, account, "local")).secret
        return self.api_key

    async def start_node(self, engine_url: str) -> NodeDaemon:
        key_path = self.home / "keys" / "node.key"
        key = NodeKey.load(key_path) if key_path.exists() else NodeKey.generate()
        if not key_path.exists():
            key.save(key_path)
        config = NodeConfig(
            name="local",
            control_plane_url=self.url,
            key_path=str(key_path),
            backend="llamacpp",
            llamacpp_host=engine_url,
            served_models=[self.model_name],
            public_key=key.public_hex,
            heartbeat_interval_s=self.heartbeat_interval_s,
        )
        save_config(config, self.home / "config.json")
        self.daemon = NodeDaemon(config, key, LlamaCppBackend(engine_url))
        self._tasks.append(asyncio.create_task(self.daemon.run()))
        return self.daemon

    async def wait_until_serving(self, timeout: float = 60.0) -> None:
        key = routing_key(self.model_name)
        async with asyncio.timeout(timeout):
            while True:
                nodes = self.services.registry.online_models().get(key, [])
                if any(n.channel is not None and n.backend_healthy for n in nodes):
                    return
                for task in self._tasks:
                    if task.done():
                        task.result()
                await asyncio.sleep(0.05)

    async def start(self) -> None:
        engine = await self.start_engine()
        await self.start_control_plane()
        await self.create_client_key()
        await self.start_node(engine.url)
        await self.wait_until_serving()

    async def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
        if self._server is not None:
            self._server.should_exit = True
        for task in reversed(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 15)
        if self.daemon is not None:
            await self.daemon.backend.close()
        if self.engine is not None:
            await asyncio.to_thread(self.engine.stop)
