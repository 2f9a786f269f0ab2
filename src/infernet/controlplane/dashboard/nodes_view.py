"""What the Nodes pages show about a node, gathered from the registry (live state), the
nodes and jobs tables, receipts (earnings) and the node's last heartbeat (GPUs)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from infernet.controlplane.api.ownership import is_admin
from infernet.controlplane.dashboard.session import Viewer
from infernet.controlplane.nodes.registry import NodeState
from infernet.controlplane.services import Services
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store import receipts as receipt_store
from infernet.controlplane.store.jobs import JobCounts
from infernet.protocol.money import show, split_fee, usdc
from infernet.protocol.wire import Heartbeat

Row = Mapping[str, Any]


@dataclass
class NodeView:
    id: str
    name: str
    status: str  # online | degraded | offline | pending_approval | revoked
    owned: bool
    last_seen: float | None  # unix seconds
    version: str
    tier: str
    backend: str
    backend_detail: str
    gpus: list[str] = field(default_factory=list)
    vram_gb: float = 0.0
    models: list[str] = field(default_factory=list)
    hot: set[str] = field(default_factory=set)
    active_jobs: int = 0
    max_concurrent: int = 1
    counts: JobCounts = field(default_factory=JobCounts)
    earned: str | None = None  # None: payments are off
    offences: int = 0  # claims caught above what the control plane can check
    last_offence: str | None = None


def last_heartbeat(services: Services, node_id: str) -> Heartbeat | None:
    beat = services.events.retained(f"node:{node_id}")
    return beat if isinstance(beat, Heartbeat) else None


def gpu_lines(beat: Heartbeat | None) -> tuple[list[str], float]:
    if beat is None:
        return [], 0.0
    lines = []
    for gpu in beat.gpus:
        text = f"{gpu.name} · {gpu.vram_mb / 1024:.0f} GB"
        if gpu.utilization_pct is not None:
            text += f" · {gpu.utilization_pct:.0f}% util"
        if gpu.memory_used_mb is not None:
            text += f" · {gpu.memory_used_mb / 1024:.1f} GB used"
        lines.append(text)
    return lines or ["CPU only"], sum(g.vram_mb for g in beat.gpus) / 1000


def _wall_clock(state: NodeState | None, row: Row) -> float | None:
    if state is not None and state.last_seen > 0:
        return time.time() - (time.monotonic() - state.last_seen)
    moment: datetime | None = row["last_heartbeat_at"]
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _status(services: Services, state: NodeState | None, row: Row) -> str:
    if row["revoked"]:
        return "revoked"
    if not row["approved"]:
        return "pending_approval"
    if state is None:
        return "offline"
    return state.status(time.monotonic(), services.registry.offline_after_s)


async def node_earnings(services: Services, node_ids: list[str]) -> dict[str, Decimal]:
    """What each node earned its operator (85 % of the receipts' value)."""
    totals = dict.fromkeys(node_ids, Decimal(0))
    for found in await receipt_store.receipts_for_nodes(services.db, node_ids, limit=100_000):
        totals[found.node_id] += split_fee(usdc(found.receipt.value_usdc))[0]
    return totals


def node_view(services: Services, viewer: Viewer, row: Row) -> NodeView:
    state = services.registry.get(str(row["id"]))
    gpus, vram_gb = gpu_lines(last_heartbeat(services, str(row["id"])))
    served = list(state.served.values()) if state else list(row["served_models"] or [])
    hot = {state.served[k] for k in state.hot if k in state.served} if state else set()
    return NodeView(
        id=str(row["id"]),
        name=str(row["name"] or ""),
        status=_status(services, state, row),
        owned=row["account_id"] == viewer.account_id,
        last_seen=_wall_clock(state, row),
        version=(state.version if state else "") or row["version"] or "—",
        tier=(state.vram_tier if state else "") or row["vram_tier"] or "—",
        backend=(state.backend if state else "") or row["backend"] or "—",
        backend_detail=state.backend_detail if state else "",
        gpus=gpus,
        vram_gb=vram_gb,
        models=served,
        hot=hot,
        active_jobs=len(state.active_jobs) if state else 0,
        max_concurrent=state.max_concurrent if state else 1,
        offences=int(row["offences"] or 0),
        last_offence=row["last_offence"],
    )


async def node_views(services: Services, viewer: Viewer, rows: list[Row]) -> list[NodeView]:
    views = [node_view(services, viewer, row) for row in rows]
    ids = [v.id for v in views]
    counts = await job_store.counts_by_node(services.db, ids) if ids else {}
    earned = await node_earnings(services, ids) if ids and services.payments else {}
    for view in views:
        view.counts = counts.get(view.id, JobCounts())
        if services.payments is not None:
            view.earned = show(earned.get(view.id, Decimal(0)))
    return views


async def visible_rows(services: Services, viewer: Viewer) -> list[Row]:
    """The viewer's own nodes (a platform admin's: every node; api/ownership.py). A node
    no account owns is shown to nobody: it answers only to itself."""
    admin = is_admin(services.settings, viewer.account_id)
    return await node_store.visible_to(services.db, None if admin else viewer.account_id)


async def visible_node(services: Services, viewer: Viewer, node_id: str) -> Row | None:
    for row in await visible_rows(services, viewer):
        if row["id"] == node_id:
            return row
    return None
