"""One-model-per-server engines (vLLM, SGLang, MAX): the servers a node runs, and launching them.

vLLM, SGLang and MAX each serve exactly one model per server process, so a node that uses
them runs a small fleet: one server per model, each on its own port. "Installing" a model
means starting another server for it; "removing" one means stopping that server. This
module owns that fleet and is the one adapter the three engines share:

- `LaunchSettings`: how this node starts engine servers (each one an `EngineProcess` of
  `engine_process.py`, which keeps its log, says how it died, and stops its process group);
- `EngineInstance`: one server (base URL + the model name it answers to);
- `OpenAIEngineBackend`: the `Backend` over a fleet: routes each request to the server
  that holds its model, streams through `openai_compat.stream_chat`, and launches or stops
  servers on install/remove when the node is allowed to (`launch` set), else says so.

`vllm.py`, `sglang.py` and `max.py` subclass `OpenAIEngineBackend` and add only what
differs: the launch command line and the engine's own status endpoints.
"""

from __future__ import annotations

import asyncio
import shlex
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

import httpx

from infernet.backends.base import (
    BackendHealth,
    GenerationEvent,
    GenerationRequest,
    InstalledModel,
    PullProgress,
)
from infernet.backends.context import model_cards
from infernet.backends.engine_process import EngineProcess, LaunchPlan, free_port
from infernet.backends.errors import (
    BackendError,
    BackendUnavailable,
    ModelNotLoaded,
    UnsupportedOperation,
)
from infernet.backends.openai_compat import mapped_http_errors, stream_chat
from infernet.protocol.modelnames import routing_key


@dataclass(frozen=True, slots=True)
class LaunchSettings:
    """How this node starts engine servers; `command` replaces the engine's default
    executable prefix (e.g. `("vllm", "serve")`), which is how tests run a fake engine."""

    command: tuple[str, ...] | None = None
    bind_host: str = "127.0.0.1"
    tensor_parallel_size: int = 1
    # Multi-GPU (Book §9.1): total GPUs = tensor x pipeline; `ray_address` joins a Ray
    # cluster (vLLM then uses Ray as its distributed executor; RAY_ADDRESS is exported).
    pipeline_parallel_size: int = 1
    ray_address: str | None = None
    startup_timeout_s: float = 1800.0  # a first launch downloads the weights
    stop_timeout_s: float = 30.0
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class EngineInstance:
    """One engine server: its base URL and the model name it answers to (`None`: ask it)."""

    host: str
    model: str | None = None


def same_model(asked: str, served: str) -> bool:
    """Whether a request for `asked` may go to a server that serves `served`."""
    return asked == served or routing_key(asked) == routing_key(served)


class OpenAIEngineBackend:
    """A `Backend` over one-model-per-server OpenAI-compatible engines; see module docs."""

    engine: ClassVar[str] = ""  # short name, e.g. "vllm"
    title: ClassVar[str] = ""  # how users spell it, e.g. "vLLM"
    health_path: ClassVar[str] = "/health"
    config_hint: ClassVar[str] = ""  # where a user lists fixed servers, e.g. "vllm_instances"

    def __init__(
        self,
        instances: Sequence[EngineInstance] = (),
        *,
        launch: LaunchSettings | None = None,
        timeout_s: float = 300.0,
    ) -> None:
        if not instances and launch is None:
            raise ValueError(f"{self.title} needs at least one server or managed launch")
        self._instances = [EngineInstance(i.host.rstrip("/"), i.model) for i in instances]
        self._launch = launch
        self._processes: dict[str, EngineProcess] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._timeout = httpx.Timeout(timeout_s, connect=5.0)

    @classmethod
    def at(
        cls, host: str, model: str | None = None, *, launch: LaunchSettings | None = None
    ) -> Self:
        """One fixed server at `host` (serving `model`, or whatever it says it serves)."""
        return cls([EngineInstance(host, model)], launch=launch)

    @property
    def name(self) -> str:
        return self.engine

    @property
    def host(self) -> str:
        if self._instances:
            return self._instances[0].host
        bind = self._launch.bind_host if self._launch else "127.0.0.1"
        return f"http://{bind}"

    @property
    def instances(self) -> tuple[EngineInstance, ...]:
        return tuple(self._instances)

    def _client(self, host: str) -> httpx.AsyncClient:
        if host not in self._clients:
            self._clients[host] = httpx.AsyncClient(base_url=host, timeout=self._timeout)
        return self._clients[host]

    # -- engine-specific hooks ---------------------------------------------------------

    def launch_plan(self, model: str, port: int, launch: LaunchSettings) -> LaunchPlan:
        """The command line that serves `model` on `port`."""
        raise NotImplementedError

    async def engine_info(self, client: httpx.AsyncClient) -> dict[str, str]:
        """Extra facts for `health()` from the engine's own status endpoints."""
        return {}

    # -- Backend -----------------------------------------------------------------------

    async def health(self) -> BackendHealth:
        if not self._instances:
            return BackendHealth(
                ok=True, detail=f"no {self.title} server running yet; installing a model starts one"
            )
        extra: dict[str, str] = {}
        for instance in self._instances:
            extra[instance.host] = await self._probe(instance.host)
        down = {host: why for host, why in extra.items() if why != "ok"}
        if not down and len(self._instances) == 1:
            extra.update(await self._safe_info(self._instances[0].host))
        if down:
            detail = "; ".join(f"{host}: {why}" for host, why in down.items())
            return BackendHealth(ok=False, detail=detail, extra=extra)
        return BackendHealth(ok=True, detail="ok", extra=extra)

    async def _probe(self, host: str) -> str:
        process = self._processes.get(host)
        if process is not None and not process.running:
            return process.crash_report()
        try:
            with mapped_http_errors(host):
                response = await self._client(host).get(self.health_path, timeout=5.0)
        except BackendError as exc:
            return str(exc)
        if response.status_code != 200:
            return f"{self.health_path} answered HTTP {response.status_code}"
        return "ok"

    async def _safe_info(self, host: str) -> dict[str, str]:
        try:
            with mapped_http_errors(host):
                return await self.engine_info(self._client(host))
        except (BackendError, ValueError) as exc:
            return {"info_error": str(exc)}

    async def list_models(self) -> list[InstalledModel]:
        models: list[InstalledModel] = []
        for instance in self._instances:
            models.extend(await self._served(instance.host))
        return models

    async def _served_ids(self, host: str) -> list[str]:
        return [model.name for model in await self._served(host)]

    async def _served(self, host: str) -> list[InstalledModel]:
        with mapped_http_errors(host):
            response = await self._client(host).get("/v1/models", timeout=10.0)
        if response.status_code != 200:
            raise BackendUnavailable(f"{host}/v1/models answered HTTP {response.status_code}")
        return model_cards(response.json(), host)

    async def _resolve(self, model: str) -> EngineInstance:
        served: list[str] = []
        for instance in self._instances:
            names = [instance.model] if instance.model else await self._served_ids(instance.host)
            for name in names:
                if same_model(model, name):
                    return EngineInstance(instance.host, name)
            served.extend(names)
        raise ModelNotLoaded(
            f"{self.title} on this node does not serve {model!r} (it serves "
            f"{', '.join(served) or 'nothing'}); run `infernet model install {model}` first"
        )

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        instance = await self._resolve(request.model)
        client = self._client(instance.host)
        async for event in stream_chat(client, request, served_name=instance.model):
            yield event

    def _known(self, model: str) -> EngineInstance | None:
        for instance in self._instances:
            if instance.model and same_model(model, instance.model):
                return instance
        return None

    def _require_launch(self, action: str) -> LaunchSettings:
        if self._launch is None:
            raise UnsupportedOperation(
                f"{self.title} serves one model per server, and this node does not start "
                f"{self.title} servers itself, so it cannot {action} models. Start the server "
                f"yourself and list it under `{self.config_hint}`, or set "
                "`engine_launch: true` so that `infernet model install` starts one."
            )
        return self._launch

    async def install(self, model: str) -> AsyncIterator[PullProgress]:
        if self._known(model) is not None:
            yield PullProgress(f"{model} is already served by {self.title}")
            yield PullProgress("success")
            return
        launch = self._require_launch("install")
        plan = self.launch_plan(model, free_port(bind_host=launch.bind_host), launch)
        yield PullProgress(f"starting {shlex.join(plan.argv)}")
        log_dir = launch.log_dir or Path(tempfile.gettempdir()) / "infernet-engines"
        log_path = log_dir / f"{Path(plan.argv[0]).name}-{int(time.time() * 1000)}.log"
        process = EngineProcess.start(plan, log_path, env=launch.env)
        try:
            async for waited in process.wait_healthy(launch.startup_timeout_s):
                yield PullProgress(f"loading {model} into {self.title} ({waited:.0f} s)")
        except BaseException:
            await asyncio.to_thread(process.stop, launch.stop_timeout_s)
            raise
        self._instances.append(EngineInstance(plan.base_url, model))
        self._processes[plan.base_url] = process
        yield PullProgress("success")

    async def remove(self, model: str) -> None:
        instance = self._known(model)
        if instance is None:
            raise ModelNotLoaded(f"{self.title} on this node does not serve {model!r}")
        process = self._processes.pop(instance.host, None)
        if process is None:
            raise UnsupportedOperation(
                f"{model} is served by a {self.title} server this node did not start "
                f"({instance.host}); stop it yourself and remove it from `{self.config_hint}`"
            )
        await asyncio.to_thread(process.stop, self._stop_s)
        self._instances.remove(instance)
        client = self._clients.pop(instance.host, None)
        if client is not None:
            await client.aclose()

    @property
    def _stop_s(self) -> float:
        return self._launch.stop_timeout_s if self._launch else 30.0

    async def close(self) -> None:
        for process in self._processes.values():
            await asyncio.to_thread(process.stop, self._stop_s)
        self._processes.clear()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
