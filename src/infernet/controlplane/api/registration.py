"""Who may join, and the owner's say over their nodes (Book §2.4, §4.1, §9.2).

* ``POST /api/v1/nodes/registration-tokens`` (API key): a one-time ``inft_reg_…`` token,
  valid `Settings.registration_token_ttl_s` (24 h by default). A node that registers with
  it belongs to the caller's account.
* ``POST /api/v1/node/register`` (route in api/node.py, logic in nodes/registration.py):
  a node joins with its key, the token, and its owner's delegation if any.
* ``GET /api/v1/nodes?status=…``, ``POST /api/v1/nodes/{id}/approve`` and
  ``POST /api/v1/nodes/{id}/revoke`` (API key): the caller's own nodes only (a platform
  admin's: any, api/ownership.py). A revoked
  node is refused on every node endpoint (401 ``revoked``) and its job channel is closed
  at once (close code 4401); jobs it was running are re-routed.

The control plane only ever receives public keys and signatures from nodes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Annotated, Any, Protocol, runtime_checkable

from fastapi import APIRouter, Query

from infernet.controlplane.api.callers import Party
from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.api.ownership import may_manage
from infernet.controlplane.errors import BadRequest, NotFound
from infernet.controlplane.schemas.registration import OwnedNode, OwnedNodes, RegistrationToken
from infernet.controlplane.services import Services
from infernet.controlplane.store import node_keys
from infernet.controlplane.store import registration as registration_store
from infernet.controlplane.store.ids import iso, utcnow
from infernet.protocol.keys import npub_from_public_hex

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])
log = logging.getLogger("infernet.registration")
REVOKED_CLOSE_CODE = 4401


@runtime_checkable
class ClosableChannel(Protocol):
    """A job channel the control plane can shut (api/node.py's WebSocketChannel)."""

    async def close(self, code: int, reason: str) -> None: ...


@router.post("/registration-tokens", response_model=RegistrationToken, status_code=201)
async def create_registration_token(
    account: AccountDep, services: ServicesDep
) -> RegistrationToken:
    """A one-time node registration token for this account (shown once)."""
    issued = await registration_store.create_token(
        services.db, account, services.settings.registration_token_ttl_s
    )
    return RegistrationToken(
        token=issued.token, account_id=account, expires_at=iso(issued.expires_at) or ""
    )


def _status(services: Services, row: Mapping[str, Any]) -> str:
    if row["revoked"]:
        return "revoked"
    if not row["approved"]:
        return "pending_approval"
    state = services.registry.get(str(row["id"]))
    if state is None:
        return "offline"
    return state.status(time.monotonic(), services.registry.offline_after_s)


def _public(services: Services, row: Mapping[str, Any]) -> OwnedNode:
    return OwnedNode(
        id=row["id"],
        name=row["name"],
        status=_status(services, row),
        public_key=npub_from_public_hex(row["public_key"]),
        user_pubkey=row["user_pubkey"],
        created_at=iso(row["created_at"]) or "",
        offences=row["offences"] or 0,
        last_offence=row["last_offence"],
        last_offence_at=iso(row["last_offence_at"]),
    )


@router.get("", response_model=OwnedNodes)
async def list_my_nodes(
    account: AccountDep,
    services: ServicesDep,
    status: Annotated[str | None, Query(max_length=40)] = None,
) -> OwnedNodes:
    """Your nodes; `?status=pending_approval` lists those waiting for your approval."""
    rows = await node_keys.nodes_of_account(services.db, account)
    listed = [_public(services, row) for row in rows]
    return OwnedNodes(nodes=[n for n in listed if status is None or n.status == status])


async def _owned(services: Services, account: str, node_id: str) -> Mapping[str, Any]:
    """The node's row, for its owner or a platform admin (api/ownership.py)."""
    row = await node_keys.node_row(services.db, node_id)
    if row is None or not may_manage(services.settings, row, Party(account_id=account)):
        raise NotFound(f"No node {node_id} in your account.")
    return row


@router.post("/{node_id}/approve", response_model=OwnedNode)
async def approve_node(node_id: str, account: AccountDep, services: ServicesDep) -> OwnedNode:
    """Let a pending node take jobs."""
    row = await _owned(services, account, node_id)
    if row["revoked"]:
        raise BadRequest(f"Node {node_id} is revoked; a revoked node cannot be approved.")
    await node_keys.approve(services.db, node_id)
    await services.caches.node_changed(node_id, "trust")  # every replica's identity cache
    if state := services.registry.get(node_id):
        state.approved = True
    await services.jobs.dispatch_waiting()
    log.info("node approved", extra={"node_id": node_id})
    return _public(services, {**row, "approved": True})


@router.post("/{node_id}/revoke", response_model=OwnedNode)
async def revoke_node(node_id: str, account: AccountDep, services: ServicesDep) -> OwnedNode:
    """Refuse this node from now on, and close its job channel at once."""
    row = await _owned(services, account, node_id)
    await node_keys.revoke(services.db, node_id, utcnow())
    await services.caches.node_changed(node_id, "trust")  # refused at once on every replica
    if (state := services.registry.get(node_id)) is not None:
        state.revoked = True
        if isinstance(state.channel, ClosableChannel):
            await state.channel.close(
                REVOKED_CLOSE_CODE, "revoked: this node was revoked by its owner"
            )
    log.info("node revoked", extra={"node_id": node_id})
    return _public(services, {**row, "revoked": True})
