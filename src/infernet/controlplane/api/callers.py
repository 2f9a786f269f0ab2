"""Who is calling a money route: a client or operator account (bearer API key), or a node
(`X-Infernet-Auth`, so `infernet payments` works on a node that no account owns yet).

An operator's earnings belong to the account that owns its node, or to the node itself
when no account does (`nodes.account_id` is NULL for nodes registered without a token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from infernet.controlplane.api.deps import ServicesDep, authenticated_caller, limited_caller
from infernet.controlplane.errors import NotFound, Unauthorized
from infernet.controlplane.money.payments import Payments
from infernet.controlplane.services import Services
from infernet.controlplane.store import nodes as node_store
from infernet.protocol.signing import AUTH_HEADER, AuthError, request_target_from_scope


@dataclass(frozen=True, slots=True)
class Party:
    account_id: str | None = None
    node_id: str | None = None

    @property
    def owner(self) -> str:
        """Whose earnings this caller sees (resolved by `caller` for nodes)."""
        return self.account_id or self.node_id or ""


async def party(request: Request, services: ServicesDep) -> Party:
    if AUTH_HEADER.lower() not in request.headers:
        bearer = await authenticated_caller(request, services)
        limited = await limited_caller(request, bearer, request.app.state.rate_limiter)
        return Party(account_id=limited.account_id)
    body = await request.body()
    target = request_target_from_scope(request.scope)
    try:
        key = await services.verifier.verify(request.headers, request.method, target, body)
    except AuthError as exc:
        raise Unauthorized(f"Node signature rejected: {exc}") from exc
    row = await node_store.node_by_key(services.db, key)
    if row is None or row["revoked"]:
        raise Unauthorized("Unknown node key: run `infernet register` first.")
    return Party(node_id=str(row["id"]))


PartyDep = Annotated[Party, Depends(party)]


def payments_of(services: Services) -> Payments:
    if services.payments is None:
        raise NotFound(
            "Payments are disabled on this control plane (PAYMENTS_ENABLED=false): jobs run "
            "without escrow, receipts or charges."
        )
    return services.payments


async def owner_of(services: Services, who: Party) -> str:
    if who.node_id is not None:
        return await payments_of(services).accounting.owner_of(who.node_id)
    return who.owner


async def nodes_of(services: Services, who: Party) -> list[str]:
    """The nodes whose earnings this caller sees."""
    if who.node_id is not None:
        return [who.node_id]
    if who.account_id is None:
        return []
    return await node_store.ids_of_account(services.db, who.account_id)
