"""Node key rotation (Book §6.5): ``POST /api/v1/node/rotate-key``, signed with the old key.

The body is a `KeyRotation` signed by both the old and the new key. The control plane
moves the node to the new key (same node id, same account, same user key) and keeps the
old key valid for `Settings.key_rotation_grace_s` (24 h by default) so work in flight and
receipts signed just before the switch still count; after that the old key gets
401 ``rotated``. Only the node's *current* key can rotate it, once per key.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.api.node import SignerDep
from infernet.controlplane.errors import BadRequest
from infernet.controlplane.nodes.auth import identify, refused
from infernet.controlplane.store import node_keys
from infernet.controlplane.store.ids import iso, utcnow
from infernet.protocol.delegation import DelegationError, KeyRotation, verify_rotation
from infernet.protocol.wire import RotateKeyResponse

router = APIRouter(tags=["node"])
log = logging.getLogger("infernet.node_keys")


@router.post("/api/v1/node/rotate-key", response_model=RotateKeyResponse)
async def rotate_key(
    rotation: KeyRotation, signer: SignerDep, services: ServicesDep
) -> RotateKeyResponse:
    identity = await identify(services.db, signer)
    if identity.public_key != signer:
        raise BadRequest("This key was already rotated; rotate with the node's current key.")
    if rotation.old_pubkey != signer:
        raise refused(
            "bad_rotation", "bad rotation: old_pubkey is not the key that signed the request"
        )
    try:
        verify_rotation(rotation)
    except DelegationError as exc:
        raise refused("bad_rotation", f"bad rotation: {exc}") from exc
    if await node_keys.key_in_use(services.db, rotation.new_pubkey):
        raise BadRequest("The new key is already used by a node; generate a fresh one.")
    now = utcnow()
    until = now + timedelta(seconds=services.settings.key_rotation_grace_s)
    moved = await node_keys.rotate(
        services.db, identity.node_id, signer, rotation.new_pubkey, now, until
    )
    if not moved:
        raise BadRequest("This key was already rotated; rotate with the node's current key.")
    await services.caches.node_changed(identity.node_id, "trust")  # every replica's identity cache
    if state := services.registry.get(identity.node_id):
        state.public_key = rotation.new_pubkey
    log.info("node key rotated", extra={"node_id": identity.node_id})
    return RotateKeyResponse(
        node_id=identity.node_id,
        public_key=rotation.new_pubkey,
        old_key_valid_until=iso(until) or "",
    )
