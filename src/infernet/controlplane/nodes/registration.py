"""A node joining the network (Book §2.4, §9.2): ``POST /api/v1/node/register``.

The user-key delegation is verified when one is sent, the registration token consumed,
and the answer is ``registered`` or, when `Settings.require_node_approval` is set,
``pending_approval``. Without `Settings.open_registration` a token is required. The same
key always gets the same id.
"""

from __future__ import annotations

import logging

from infernet.controlplane.nodes.auth import refused
from infernet.controlplane.services import Services
from infernet.controlplane.store import registration as registration_store
from infernet.protocol.delegation import DelegationError, verify_node_delegation
from infernet.protocol.wire import RegisterRequest, RegisterResponse

log = logging.getLogger("infernet.registration")


async def register_node(services: Services, body: RegisterRequest) -> RegisterResponse:
    """Register (or find again) the node whose key signed ``body``."""
    if body.delegation is not None:
        try:
            verify_node_delegation(body.delegation, node_pubkey=body.public_key)
        except DelegationError as exc:
            raise refused("bad_delegation", f"bad delegation: {exc}") from exc
    node = registration_store.NewNode(
        public_key=body.public_key,
        name=body.name,
        user_pubkey=body.delegation.user_pubkey if body.delegation else None,
        delegation=body.delegation.model_dump(mode="json") if body.delegation else None,
    )
    try:
        result = await registration_store.register(
            services.db,
            node,
            token=body.registration_token,
            require_token=not services.settings.open_registration,
            require_approval=services.settings.require_node_approval,
        )
    except registration_store.RegistrationRefused as exc:
        raise refused(exc.code, f"{exc.code}: {exc.reason}") from exc
    state = services.registry.ensure(result.node_id, body.public_key)
    state.approved = result.approved
    if result.created:
        log.info("node registered", extra={"node_id": result.node_id})
    return RegisterResponse(
        node_id=result.node_id,
        status="registered" if result.approved else "pending_approval",
        account_id=result.account_id,
        heartbeat_interval_s=services.settings.heartbeat_interval_s,  # paces the first beat
    )
