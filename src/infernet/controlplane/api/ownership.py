"""Who may act on a node: its owner, a platform admin, or the node itself.

Every node belongs to the account whose one-time registration token it joined with
(`infernet node token`, Book §2.4). Only that account, and platform admins
(`Settings.admin_accounts`, Book ADV-02), may queue its commands, set its prices, approve
or revoke it, and see its private details (why it gets no jobs, its offences). A node no
account owns (it joined an open network without a token) answers to nobody but itself:
requests signed with its own key, which is what its operator's CLI sends. To manage it
from an account, register it again with a token (`infernet register --token ...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request

from infernet.controlplane.api.callers import Party, party
from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.errors import NotFound
from infernet.controlplane.services import Services
from infernet.controlplane.settings import Settings
from infernet.controlplane.store import nodes as node_store
from infernet.protocol.signing import AUTH_HEADER


def is_admin(settings: Settings, account_id: str | None) -> bool:
    return account_id is not None and account_id in settings.admin_accounts


def may_manage(settings: Settings, node: Mapping[str, Any], who: Party) -> bool:
    """Whether `who` may act on `node` (its row) as its owner."""
    if who.node_id is not None:
        return bool(who.node_id == node["id"])
    owner = node["account_id"]
    return (owner is not None and owner == who.account_id) or is_admin(settings, who.account_id)


async def managed_node(services: Services, node_id: str, who: Party) -> Mapping[str, Any]:
    """The node's row if `who` may act on it; otherwise it does not exist for them (404)."""
    row = await node_store.node_by_id(services.db, node_id)
    if row is None or not may_manage(services.settings, row, who):
        unowned = row is not None and row["account_id"] is None and who.node_id is None
        hint = (
            " It has no owner: only the node itself (its own signed requests) acts on it; "
            "register it with a token from your account (`infernet node token`) to manage it."
            if unowned
            else ""
        )
        raise NotFound(f"No node {node_id} in your account.{hint}")
    return row


async def optional_party(request: Request, services: ServicesDep) -> Party | None:
    """The caller, if the request carries credentials (a bearer key or a node signature);
    None for an anonymous request. Bad credentials are a 401 as anywhere."""
    if "authorization" not in request.headers and AUTH_HEADER.lower() not in request.headers:
        return None
    return await party(request, services)


MaybePartyDep = Annotated[Party | None, Depends(optional_party)]
