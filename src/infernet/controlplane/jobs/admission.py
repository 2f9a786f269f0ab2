"""Which model a job asks for, and refusals at submit, before anything is held or stored,
of jobs no node could take now: a model no online node serves (404, listing those
served), a pin to a node that does not exist, and a model whose every online node has
its inference engine down (a retryable 503 at once, instead of a job that waits for the
five-minute timeout while its stream sends keep-alives)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.errors import BackendsDown, BadRequest, ModelNotFound, NotFound
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store import nodes as node_store
from infernet.protocol.modelnames import AmbiguousModelName, UnknownModelName, resolve_model

RETRY_AFTER_S = 15


def served_names(registry: NodeRegistry) -> list[str]:
    """The name of each model some online node serves."""
    return sorted({nodes[0].served[key] for key, nodes in registry.online_models().items()})


def resolve_key(registry: NodeRegistry, model: str, refused: Counter[str]) -> str:
    """The routing key of the online model `model` names, or a client error saying which
    models are served (never a different model than the one asked for); a model nobody
    serves is counted in `refused`."""
    try:
        online = [k for k in registry.served_keys() if registry.has_online(k)]
        return resolve_model(model, online)
    except AmbiguousModelName as exc:
        raise BadRequest(str(exc)) from exc
    except UnknownModelName as exc:
        refused[model] += 1
        served = ", ".join(served_names(registry)) or "none (no node is online)"
        raise ModelNotFound(
            f"No online node serves model '{model}'. Models served now: {served}."
        ) from exc


async def check_admissible(
    db: AsyncEngine, registry: NodeRegistry, request: JobCreate, key: str
) -> None:
    """Raise when `request` (routed by `key`) cannot run on any node now."""
    pinned = request.node_id
    if pinned is not None and await node_store.node_by_id(db, pinned) is None:
        raise NotFound(
            f"node_id: no node {pinned} is registered; leave node_id out to let the router choose."
        )
    online = registry.online_models().get(key, [])
    if pinned is not None:
        online = [n for n in online if n.node_id == pinned]
    if online and not any(n.backend_healthy for n in online):
        details = "; ".join(sorted({n.backend_detail for n in online if n.backend_detail}))[:300]
        raise BackendsDown(
            f"Every online node serving this model has its inference backend down"
            f"{f' ({details})' if details else ''}; retry in {RETRY_AFTER_S} s.",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
