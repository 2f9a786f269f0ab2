"""`POST /api/v1/node/deregister` (signed): a node leaves the network (`infernet remove`).

The node is marked `deregistered` and its key revoked, so the key can no longer heartbeat,
open a job channel or be routed to; its history (jobs, receipts, earnings) stays. Jobs it
was running are taken back as if its channel had closed. To come back, the operator makes
a new key (`infernet init --force` after deleting the old one) and registers again.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.api.node import SignerDep
from infernet.controlplane.nodes.auth import identify
from infernet.controlplane.schemas.nodes import DeregisterRequest, DeregisterResponse
from infernet.controlplane.store import node_keys
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store.ids import iso, utcnow

router = APIRouter(tags=["node"])
log = logging.getLogger("infernet.node_lifecycle")


@router.post("/api/v1/node/deregister", response_model=DeregisterResponse)
async def deregister(
    body: DeregisterRequest, signer: SignerDep, services: ServicesDep
) -> DeregisterResponse:
    """Deactivate the signing node's registration (its key is revoked)."""
    identity = await identify(services.db, signer)
    now = utcnow()
    await node_keys.revoke(services.db, identity.node_id, now)
    await services.caches.node_changed(identity.node_id, "trust")  # refused on every replica
    await node_store.save_node_facts(services.db, identity.node_id, status="deregistered")
    if state := services.registry.get(identity.node_id):
        state.revoked = True
        state.last_seen = 0.0
        await services.jobs.node_lost(identity.node_id)
    log.info("node deregistered", extra={"node_id": identity.node_id, "reason": body.reason})
    return DeregisterResponse(
        node_id=identity.node_id, status="deregistered", deregistered_at=iso(now) or ""
    )
