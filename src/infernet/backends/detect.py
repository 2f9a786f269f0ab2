"""Which inference backend this node uses, and building it from settings (Book §7.1).

`BackendSettings` gathers the backend keys of the config file (flat `ollama_host`, ...,
or nested `engine.backend` / `engine.ollamaHost`), overridden by the environment
(`INFERNET_BACKEND`, `OLLAMA_HOST`, `VLLM_HOST`, `VLLM_MODEL`, `SGLANG_HOST`,
`SGLANG_MODEL`, `MODULAR_MAX_HOST`, `MAX_MODEL`, `LLAMACPP_HOST`, `OLLAMA_KEEP_ALIVE`).

`detect_backend` honours an explicit `backend`, else probes in the Book's order, first
healthy wins: Ollama `GET /api/tags`, vLLM `GET /health`, SGLang `GET /health`, then the
shared port 8080, where MAX and llama.cpp (llama-server or llama-swap) are told apart by
what they say about themselves (`identify`): `owned_by` in `/v1/models` ("vllm",
"sglang", "llamacpp", "llama-swap"; MAX leaves it empty), llama-server's `/props`, MAX's
`/version`. The same check keeps a vLLM on SGLang's port from being taken for SGLang.
`build_backend` makes the `Backend` through a registry of factories, one per engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import httpx

from infernet.backends.base import Backend
from infernet.backends.errors import BackendUnavailable
from infernet.backends.launcher import EngineInstance, LaunchSettings, OpenAIEngineBackend
from infernet.backends.max import MaxBackend
from infernet.backends.ollama import KeepAlive, OllamaBackend
from infernet.backends.sglang import SGLangBackend
from infernet.backends.vllm import VllmBackend
from infernet.protocol.kvcache import physical_memory_bytes

BackendName = Literal["ollama", "vllm", "sglang", "max", "llamacpp"]
BACKEND_NAMES: tuple[BackendName, ...] = get_args(BackendName)
DEFAULT_PORTS: dict[BackendName, int] = {
    "ollama": 11434, "vllm": 8000, "sglang": 30000, "max": 8080, "llamacpp": 8080,
}  # fmt: skip
_ENV_HOSTS = {
    "OLLAMA_HOST": "ollama_host", "VLLM_HOST": "vllm_host", "SGLANG_HOST": "sglang_host",
    "MODULAR_MAX_HOST": "max_host", "LLAMACPP_HOST": "llamacpp_host",
}  # fmt: skip
_ENV_MODELS = {"VLLM_MODEL": "vllm_model", "SGLANG_MODEL": "sglang_model", "MAX_MODEL": "max_model"}
_OWNER_ENGINES: dict[str, BackendName] = {
    "vllm": "vllm", "sglang": "sglang", "llamacpp": "llamacpp", "llama-swap": "llamacpp",
}  # fmt: skip
_OPENAI_STYLE_ORDER: tuple[BackendName, ...] = ("vllm", "sglang", "max", "llamacpp")


def normalize_host(value: str, default_port: int) -> str:
    """`OLLAMA_HOST`-style values ("0.0.0.0", "host:1234", "https://h") as base URLs."""
    host = value.strip().rstrip("/")
    if "://" not in host:
        host = f"http://{host}"
    scheme, rest = host.split("://", 1)
    if ":" not in rest.split("/", 1)[0]:
        rest = f"{rest}:{default_port}"
    return f"{scheme}://{rest}"


def parse_backend(value: str, source: str) -> BackendName:
    name = value.strip().lower()
    if name not in BACKEND_NAMES:
        raise ValueError(f"{source}={value!r} is not a backend; use one of {BACKEND_NAMES}")
    return name


def _url(name: BackendName) -> str:
    return f"http://localhost:{DEFAULT_PORTS[name]}"


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """Everything that decides which backend to use and how to reach it."""

    backend: BackendName | None = None  # explicit choice; None: auto-detect
    backend_source: str = ""  # where the explicit choice came from
    ollama_host: str = _url("ollama")
    keep_alive: KeepAlive | None = None  # Ollama keep_alive on every request
    ollama_num_ctx: int | None = None  # the most context the node gives an Ollama model
    vllm_host: str = _url("vllm")
    vllm_model: str | None = None
    vllm_instances: tuple[EngineInstance, ...] = ()
    sglang_host: str = _url("sglang")
    sglang_model: str | None = None
    max_host: str = _url("max")
    max_model: str | None = None
    llamacpp_host: str = _url("llamacpp")
    llamacpp_models_dir: Path | None = None
    engine_launch: bool = False  # start vLLM/SGLang/MAX servers per installed model
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    ray_address: str | None = None
    probe_timeout_s: float = 2.0

    @classmethod
    def from_sources(
        cls, config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> BackendSettings:
        """Config file values (flat or nested shape), then environment overrides."""
        values = _from_config(config or {})
        values.update(_from_env(os.environ if env is None else env))
        return cls(**values)

    def launch(self) -> LaunchSettings | None:
        if not self.engine_launch:
            return None
        return LaunchSettings(
            tensor_parallel_size=self.tensor_parallel_size,
            pipeline_parallel_size=self.pipeline_parallel_size,
            ray_address=self.ray_address,
        )


def _from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    flat = dict(config)
    engine = config.get("engine")
    if isinstance(engine, Mapping):  # nested shape: engine.backend, engine.ollamaHost
        flat.setdefault("backend", engine.get("backend"))
        flat.setdefault("ollama_host", engine.get("ollamaHost"))
    values: dict[str, Any] = {}
    if flat.get("backend"):
        values["backend"] = parse_backend(str(flat["backend"]), "config backend")
        values["backend_source"] = "config `backend`"
    for key in ("ollama_host", "vllm_host", "sglang_host", "max_host", "llamacpp_host"):
        if flat.get(key):
            values[key] = normalize_host(str(flat[key]), DEFAULT_PORTS[_engine_of(key)])
    for key in ("vllm_model", "sglang_model", "max_model", "keep_alive", "ollama_num_ctx"):
        if flat.get(key) not in (None, ""):
            values[key] = flat[key]
    env_map = flat.get("env")
    if isinstance(env_map, Mapping) and "OLLAMA_KEEP_ALIVE" in env_map:
        values["keep_alive"] = str(env_map["OLLAMA_KEEP_ALIVE"])
    values["vllm_instances"] = tuple(
        EngineInstance(normalize_host(str(i["host"]), DEFAULT_PORTS["vllm"]), i.get("model"))
        for i in flat.get("vllm_instances") or ()
    )
    launch_keys = ("engine_launch", "tensor_parallel_size", "pipeline_parallel_size")
    for key in (*launch_keys, "ray_address", "llamacpp_models_dir"):
        if flat.get(key) is not None:
            values[key] = Path(flat[key]) if key == "llamacpp_models_dir" else flat[key]
    return values


def _engine_of(host_key: str) -> BackendName:
    return parse_backend(host_key.removesuffix("_host"), host_key)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if env.get("INFERNET_BACKEND"):
        values["backend"] = parse_backend(env["INFERNET_BACKEND"], "INFERNET_BACKEND")
        values["backend_source"] = "INFERNET_BACKEND"
    for var, key in _ENV_HOSTS.items():
        if env.get(var):
            values[key] = normalize_host(env[var], DEFAULT_PORTS[_engine_of(key)])
    for var, key in _ENV_MODELS.items():
        if env.get(var):
            values[key] = env[var]
    if env.get("OLLAMA_KEEP_ALIVE"):
        values["keep_alive"] = env["OLLAMA_KEEP_ALIVE"]
    if env.get("OLLAMA_CONTEXT_LENGTH", "").isdigit():  # Ollama's own default context
        values["ollama_num_ctx"] = int(env["OLLAMA_CONTEXT_LENGTH"])
    return values


def host_for(settings: BackendSettings, name: BackendName) -> str:
    return cast(str, getattr(settings, f"{name}_host"))


# -- detection -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """What one probe found: which backend it looked for, where, and what answered."""

    backend: BackendName
    host: str
    found: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Detection:
    backend: BackendName
    host: str
    reason: str
    probes: tuple[Probe, ...] = ()


class NoBackendDetected(BackendUnavailable):
    """No engine answered any probe; `probes` says what each one saw."""

    def __init__(self, probes: tuple[Probe, ...]):
        lines = "; ".join(f"{p.backend} at {p.host}: {p.detail}" for p in probes)
        super().__init__(
            f"no inference backend answered ({lines}). Start one (Ollama is the easiest: "
            "https://ollama.com/download), or set INFERNET_BACKEND / config `backend`."
        )
        self.probes = probes


async def _get(client: httpx.AsyncClient, url: str) -> httpx.Response | None:
    try:
        return await client.get(url)
    except httpx.HTTPError:
        return None


async def _answers(client: httpx.AsyncClient, url: str) -> str | None:
    """None when `url` answered 200, else why not."""
    response = await _get(client, url)
    if response is None:
        return "no answer"
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


async def _probe_ollama(client: httpx.AsyncClient, host: str) -> str | None:
    response = await _get(client, f"{host}/api/tags")
    if response is None or response.status_code != 200:
        return "no answer on /api/tags"
    body = response.json() if "json" in response.headers.get("content-type", "") else None
    return None if isinstance(body, dict) and "models" in body else "/api/tags is not Ollama's"


async def _owners(client: httpx.AsyncClient, host: str) -> set[str]:
    response = await _get(client, f"{host}/v1/models")
    if response is None or response.status_code != 200:
        return set()
    try:
        data = response.json().get("data") or []
    except (ValueError, AttributeError):
        return set()
    return {str(card.get("owned_by", "")) for card in data if isinstance(card, dict)}


async def identify(
    client: httpx.AsyncClient, host: str, expected: BackendName
) -> tuple[BackendName, str] | None:
    """Which OpenAI-style engine answers `/health` at `host`, with the evidence; None if
    nothing healthy does. Each engine names itself in `/v1/models` `owned_by` ("vllm",
    "sglang", "llamacpp", "llama-swap"), except MAX, which leaves it empty and is known by
    `/version`; llama-server also answers `/props`. With no such sign, the Book's order
    decides (`expected`)."""
    if await _answers(client, f"{host}/health") is not None:
        return None
    owners = await _owners(client, host)
    for owner in sorted(owners):
        if owner in _OWNER_ENGINES:
            return _OWNER_ENGINES[owner], f"/v1/models says owned_by {owner!r}"
    if await _answers(client, f"{host}/props") is None:
        return "llamacpp", "answers llama-server's /props"
    if expected in ("max", "llamacpp") and await _answers(client, f"{host}/version") is None:
        return "max", "answers MAX's /version"
    return expected, "answers /health (no engine named itself; Book order)"


async def _probe_all(client: httpx.AsyncClient, settings: BackendSettings) -> Detection:
    host = settings.ollama_host
    why = await _probe_ollama(client, host)
    probes = [Probe("ollama", host, why is None, why or "healthy")]
    if why is None:
        return Detection("ollama", host, f"ollama answered /api/tags at {host}", tuple(probes))
    for name in _OPENAI_STYLE_ORDER:
        host = host_for(settings, name)
        found = await identify(client, host, name)
        probes.append(Probe(name, host, found is not None, _said(found)))
        if found is not None:
            return Detection(found[0], host, f"{found[0]} at {host}: {found[1]}", tuple(probes))
    raise NoBackendDetected(tuple(probes))


def _said(found: tuple[BackendName, str] | None) -> str:
    return "no answer on /health" if found is None else f"{found[0]}: {found[1]}"


async def detect_backend(
    settings: BackendSettings, *, client: httpx.AsyncClient | None = None
) -> Detection:
    """The explicit backend if one is set, else the first that answers (see module docs)."""
    if settings.backend is not None:
        host = host_for(settings, settings.backend)
        reason = f"{settings.backend} chosen by {settings.backend_source or 'settings'}"
        return Detection(settings.backend, host, reason)
    if client is not None:
        return await _probe_all(client, settings)
    async with httpx.AsyncClient(timeout=settings.probe_timeout_s) as own:
        return await _probe_all(own, settings)


# -- building ------------------------------------------------------------------------------


def _engine_fleet(
    cls: type[OpenAIEngineBackend],
    settings: BackendSettings,
    host: str,
    model: str | None,
    instances: tuple[EngineInstance, ...] = (),
) -> OpenAIEngineBackend:
    launch = settings.launch()
    if instances:
        return cls(instances, launch=launch)
    if launch is not None and model is None:
        return cls((), launch=launch)  # managed: servers start as models are installed
    return cls([EngineInstance(host, model)], launch=launch)


def _llamacpp(settings: BackendSettings, host: str) -> Backend:
    from infernet.backends.llamacpp import LlamaCppBackend  # built by its own module

    return cast(Backend, LlamaCppBackend(host, models_dir=settings.llamacpp_models_dir))


Factory = Callable[[BackendSettings, str], Backend]
FACTORIES: dict[BackendName, Factory] = {
    "ollama": lambda s, host: OllamaBackend(
        host,
        keep_alive=s.keep_alive,
        context_cap=s.ollama_num_ctx,
        memory_bytes=physical_memory_bytes(),
    ),
    "vllm": lambda s, host: _engine_fleet(VllmBackend, s, host, s.vllm_model, s.vllm_instances),
    "sglang": lambda s, host: _engine_fleet(SGLangBackend, s, host, s.sglang_model),
    "max": lambda s, host: _engine_fleet(MaxBackend, s, host, s.max_model),
    "llamacpp": _llamacpp,
}


def build_backend(settings: BackendSettings, name: BackendName, host: str | None = None) -> Backend:
    """The `Backend` for engine `name` at `host` (default: its host in `settings`)."""
    return FACTORIES[name](settings, host or host_for(settings, name))


async def detect_and_build(settings: BackendSettings) -> tuple[Detection, Backend]:
    detection = await detect_backend(settings)
    return detection, build_backend(settings, detection.backend, detection.host)
