"""What a node says in its heartbeat (Book §3.1): its version, its backend's health, the
models it serves as its backend holds them (with their context and model-key statement),
its tier and GPUs, its load and payout address. The daemon (daemon.py) sends it every
`interval_s` and after every model change."""

from __future__ import annotations

from infernet import __version__
from infernet.backends.base import Backend
from infernet.backends.errors import BackendError
from infernet.node.confidential import model_key_statement
from infernet.node.config import NodeConfig
from infernet.node.gpu_report import HardwareCache
from infernet.node.model_keys import ModelKeyring
from infernet.protocol.modelnames import routing_key
from infernet.protocol.wire import Heartbeat, NodeLoad, ServedModel


async def served_models(
    backend: Backend, names: list[str], keyring: ModelKeyring
) -> list[ServedModel]:
    """The configured models the backend really holds, as it names them."""
    try:
        installed = {routing_key(m.name): m for m in await backend.list_models()}
    except BackendError:
        return []
    return [
        ServedModel(
            name=model.name,
            loaded=model.loaded,
            size_bytes=model.size_bytes,
            context_length=model.context_length,
            model_key=model_key_statement(keyring, model.name),
        )
        for name in names
        if (model := installed.get(routing_key(name)))
    ]


async def build_heartbeat(
    backend: Backend,
    config: NodeConfig,
    keyring: ModelKeyring,
    hardware: HardwareCache,
    *,
    active_jobs: int,
    draining: bool,
    slots: int | None = None,
) -> Heartbeat:
    """`slots`: the jobs the node takes at once now (None: `max_concurrent_jobs`)."""
    health = await backend.health()
    served = await served_models(backend, config.served_models, keyring) if health.ok else []
    gpus, tier = await hardware.heartbeat_fields(config.vram_tier)
    return Heartbeat(
        version=__version__,
        backend=backend.name,
        backend_healthy=health.ok,
        backend_detail=health.detail,
        served_models=served,
        vram_tier=tier,
        gpus=gpus,
        draining=draining,
        load=NodeLoad(
            active_jobs=active_jobs, max_concurrent_jobs=slots or config.max_concurrent_jobs
        ),
        payout_address=config.payout_address,
        payout_chain=config.payout_chain,
    )
