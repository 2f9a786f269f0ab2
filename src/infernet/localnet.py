"""A whole Infernet network on one machine: control plane + nodes + llama.cpp.

`infernet up` runs `LocalNetwork` in the foreground; the end-to-end tests run it too, so
what a newcomer sees is exactly what the tests check. Its two building blocks,
`ControlPlaneServer` and `LocalNode`, also serve the control-plane tests, which attach
nodes with other backends. Everything binds to 127.0.0.1. The control plane and the nodes
run in this process (as they would in several); the engine is a child process, as a real
llama-server would be, which an `EngineSupervisor` watches and restarts if it crashes
(its output and llama.cpp's own log go to `engine.log` under `home`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from infernet.backends.base import Backend
from infernet.backends.engine_process import free_port
from infernet.backends.llamacpp import LlamaCppBackend
from infernet.controlplane.app import create_app
from infernet.controlplane.money.ledger import EXTERNAL_DEPOSITS, client_available
from infernet.controlplane.services import Services
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.accounts import create_account, issue_key
from infernet.controlplane.store.registration import create_token
from infernet.controlplane.web.server import LimitedHttpToolsProtocol
from infernet.engine.launch import find_smollm2, start_engine
from infernet.engine.supervisor import EngineSupervisor, SupervisedBackend
from infernet.node.config import NodeConfig, save_config
from infernet.node.daemon import NodeDaemon
from infernet.node.shard_trainer import ShardTrainer
from infernet.protocol.keys import NodeKey
from infernet.protocol.modelnames import routing_key
from infernet.protocol.money import usdc
from infernet.protocol.wire import RegisterRequest, RegisterResponse

# What a local account starts with under `infernet up`: a ledger-only demo credit.
LOCAL_DEMO_CREDIT = "25.00"


class ControlPlaneServer:
    """A control plane served by uvicorn inside the running event loop."""

    def __init__(
        self, settings: Settings, port: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings, self.port = settings, port
        self.url = f"http://127.0.0.1:{port}"
        self.app = create_app(settings, clock=clock)  # `clock`: what rate limits count by
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            ws_ping_interval=20,
            http=LimitedHttpToolsProtocol,  # oversize headers: a readable 431
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start (port in use, ...)
                raise RuntimeError("the control plane stopped during start-up")
            await asyncio.sleep(0.02)

    async def create_client_key(self, name: str = "local", credit: str | None = None) -> str:
        """A new client account's API key (see `create_client`)."""
        return (await self.create_client(name, credit))[1]

    async def create_client(
        self, name: str = "local", credit: str | None = None
    ) -> tuple[str, str]:
        """A new client account and its API key: (account id, key). With payments on, the
        account starts with `credit` USDC (default `LOCAL_DEMO_CREDIT`): a ledger-only
        local demo credit, so the quick start runs jobs; no money exists behind it. Where
        deposits are real (`--settlement evm`) or ledger credits are off, there is none."""
        account = await create_account(self.services.db, name)
        payments = self.services.payments
        amount = usdc(LOCAL_DEMO_CREDIT if credit is None else credit)
        if payments is not None and amount > 0 and self.settings.ledger_credits:
            moves = [(EXTERNAL_DEPOSITS, -amount), (client_available(account), amount)]
            memo = "local demo credit (ledger-only, created by `infernet up`; not real money)"
            await payments.ledger.post("deposit", f"demo:{account}", moves, memo=memo)
        return account, (await issue_key(self.services.db, account, name)).secret

    def routable_nodes(self, model: str) -> int:
        nodes = self.services.registry.online_models().get(routing_key(model), [])
        return sum(1 for n in nodes if n.channel is not None and n.backend_healthy)

    async def wait_serving(self, model: str, nodes: int = 1, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while self.routable_nodes(model) < nodes:
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 15)


class LocalNode:
    """A node daemon with its own key and config under `home`, running as a task."""

    def __init__(
        self,
        home: Path,
        control_plane_url: str,
        backend: Backend,
        shard_trainer: ShardTrainer | None = None,
        **config: object,
    ):
        home.mkdir(parents=True, exist_ok=True)
        key_path = home / "keys" / "node.key"
        self.key = NodeKey.load(key_path) if key_path.exists() else NodeKey.generate()
        if not key_path.exists():
            self.key.save(key_path)
        self.config_path = home / "config.json"
        self.config = NodeConfig.model_validate(
            {
                "control_plane_url": control_plane_url,
                "key_path": str(key_path),
                "backend": backend.name,
                "public_key": self.key.public_hex,
                **config,
            }
        )
        save_config(self.config, self.config_path)
        self.daemon = NodeDaemon(
            self.config,
            self.key,
            backend,
            config_path=self.config_path,
            shard_trainer=shard_trainer,  # with accept_training; None: the real one
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def node_id(self) -> str | None:
        return self.daemon.node_id

    def start(self) -> None:
        self._task = asyncio.create_task(self.daemon.run())

    def check(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()

    async def join(self, token: str) -> str:
        """Register with an account's one-time registration token, so the node is the
        account's (api/ownership.py); the daemon registers again on start, keeping it."""
        request = RegisterRequest(
            public_key=self.key.public_hex, name=self.config.name, registration_token=token
        )
        reply = await self.daemon.client.post("/api/v1/node/register", request, RegisterResponse)
        return reply.node_id

    async def stop(self) -> None:
        self.daemon.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 15)
        await self.daemon.backend.close()


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
        self.engine: EngineSupervisor | None = None
        self.control_plane: ControlPlaneServer | None = None
        self.node: LocalNode | None = None

    @property
    def model_name(self) -> str:
        return self.model_path.name

    @property
    def daemon(self) -> NodeDaemon | None:
        return self.node.daemon if self.node else None

    @property
    def context_length(self) -> int | None:
        """The context the engine runs the model with, as the control plane heard it."""
        key = routing_key(self.model_name)
        nodes = self.services.registry.online_models().get(key, [])
        return max((n.contexts[key] for n in nodes if key in n.contexts), default=None)

    @property
    def services(self) -> Services:
        assert self.control_plane is not None
        return self.control_plane.services

    @property
    def engine_log(self) -> Path:
        return self.home / "engine.log"

    def _engine_changed(self) -> None:
        """The engine went down or came back: tell the control plane now, not at the
        next heartbeat."""
        if self.node is not None and self.node.daemon.node_id is not None:
            self.node.daemon.request_sync()

    async def start(self) -> None:
        port = free_port(self.engine_port or 8080)
        self.engine = EngineSupervisor(
            lambda: start_engine(self.model_path, port, self.engine_log),
            on_change=self._engine_changed,
        )
        await self.engine.start()
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{self.home / 'controlplane.db'}",
            public_url=self.url,
            heartbeat_interval_s=self.heartbeat_interval_s,
            payments_enabled=True,
            open_deposits=True,  # a local demo: its user may add demo credit
        )
        self.control_plane = ControlPlaneServer(settings, self.port)
        await self.control_plane.start()
        account, self.api_key = await self.control_plane.create_client()
        self.node = LocalNode(
            self.home / "node",
            self.url,
            SupervisedBackend(LlamaCppBackend(self.engine.url), self.engine),
            name="local",
            served_models=[self.model_name],
            heartbeat_interval_s=self.heartbeat_interval_s,
        )
        token = await create_token(self.services.db, account, 600.0)
        await self.node.join(token.token)  # the local user owns the local node
        self.node.start()
        async with asyncio.timeout(60):
            while self.control_plane.routable_nodes(self.model_name) < 1:
                self.node.check()
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.node is not None:
            await self.node.stop()
        if self.control_plane is not None:
            await self.control_plane.stop()
        if self.engine is not None:
            await self.engine.stop()
