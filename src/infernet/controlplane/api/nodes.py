"""Nodes as clients and uptime tools see them (Book §4.5, §8.7)."""

from __future__ import annotations

import time

from fastapi import APIRouter

from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.api.docs import errors
from infernet.controlplane.api.ownership import MaybePartyDep, may_manage
from infernet.controlplane.errors import NotFound
from infernet.controlplane.jobs.explain import explain
from infernet.controlplane.nodes.registry import NodeState
from infernet.controlplane.schemas.nodes import NodePublic, NodeStatus
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store.ids import iso

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])


def _status(state: NodeState | None, offline_after_s: float) -> str:
    return state.status(time.monotonic(), offline_after_s) if state else "offline"


@router.get("/{node_id}", response_model=NodePublic, responses=errors(401, 404, 429))
async def get_node(node_id: str, _account: AccountDep, services: ServicesDep) -> NodePublic:
    row = await node_store.node_by_id(services.db, node_id)
    if row is None:
        raise NotFound(f"No node {node_id}.")
    state = services.registry.get(node_id)
    return NodePublic(
        id=node_id,
        status=_status(state, services.registry.offline_after_s),
        version=row["version"],
        backend=row["backend"],
        vram_tier=row["vram_tier"],
        served_models=list(state.served.values()) if state else list(row["served_models"]),
        active_jobs=len(state.active_jobs) if state else 0,
        last_heartbeat=iso(row["last_heartbeat_at"]),
    )


@router.get("/{node_id}/status", response_model=NodeStatus, responses=errors(401, 404))
async def node_status(node_id: str, who: MaybePartyDep, services: ServicesDep) -> NodeStatus:
    """Public: `{"status": "online" | "degraded" | "offline"}` for uptime monitors. Its
    owner (bearer key), a platform admin, or the node itself (signed) also get
    `why_no_jobs`: the router's reasons for passing this node over, with counts and advice."""
    row = await node_store.node_by_id(services.db, node_id)
    if row is None:
        raise NotFound(f"No node {node_id}.")
    state = services.registry.get(node_id)
    offline_after = services.registry.offline_after_s
    status = NodeStatus(status=_status(state, offline_after))
    if state is None or who is None or not may_manage(services.settings, row, who):
        return status
    return status.model_copy(
        update={"why_no_jobs": explain(state, offline_after, services.jobs.demand)}
    )
