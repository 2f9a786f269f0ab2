"""Refusals at submit, before anything is held or stored, of jobs no node could take now
(which model a job asks for is names.py): a pin to a node that does not exist, and a
model whose every online node has its inference engine down (a retryable 503 at once,
instead of a job that waits for the five-minute timeout while its stream sends
keep-alives)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.errors import BackendsDown, NotFound
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store import nodes as node_store

RETRY_AFTER_S = 15


async def check_admissible(
    db: AsyncEngine, registry: NodeRegistry, request: JobCreate, key: str
) -> None:
    """Raise when `request` (routed by `key`) cannot run on any node now."""
    pinned = request.node_id
    if pinned is not None and await node_store.node_by_id(db, pinned) is None:
        raise NotFound(
            f"node_id: no node {pinned} is registered; leave node_id out to let the router choose."
        )
    down: list[NodeState] = []
    for node in registry.online_iter(key):  # stops at the first up: not every node of a model
        if pinned is not None and node.node_id != pinned:
            continue
        if node.backend_healthy:
            return
        down.append(node)
    if down:
        details = "; ".join(sorted({n.backend_detail for n in down if n.backend_detail}))[:300]
        raise BackendsDown(
            f"Every online node serving this model has its inference backend down"
            f"{f' ({details})' if details else ''}; retry in {RETRY_AFTER_S} s.",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
