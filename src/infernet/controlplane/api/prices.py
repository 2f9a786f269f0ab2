"""Operator prices per node and model (Book §8.6): read by anyone signed in, set only by
the node's owner: the account that owns it, a platform admin, or the node itself, signed
(api/ownership.py). `me` stands for the signing node's own id. The router does not weigh
price yet."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter

from infernet.controlplane.api.callers import PartyDep, payments_of
from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.api.ownership import may_manage
from infernet.controlplane.errors import BadRequest, Forbidden, NotFound
from infernet.controlplane.money.pricing import Price
from infernet.controlplane.nodes.registry import NodeState
from infernet.controlplane.schemas.prices import ModelPrice, NodePrices, PriceSet
from infernet.controlplane.services import Services
from infernet.controlplane.store import nodes as node_store
from infernet.protocol.modelnames import routing_key
from infernet.protocol.money import MoneyError, price, show

router = APIRouter(prefix="/api/v1/nodes", tags=["prices"])


def model_price(model: str, key: str, p: Price) -> ModelPrice:
    return ModelPrice(
        model=model,
        routing_key=key,
        input_per_1k=show(p.input_per_1k),
        output_per_1k=show(p.output_per_1k),
        source=p.source,
    )


def _price(field: str, text: str) -> Decimal:
    try:
        return price(text)
    except MoneyError as exc:
        raise BadRequest(f"{field}: {exc}") from exc


async def _node(services: Services, node_id: str, who: PartyDep) -> str:
    if node_id == "me":
        if who.node_id is None:
            raise BadRequest("'me' means the signing node; sign the request with the node key.")
        return who.node_id
    if await node_store.node_by_id(services.db, node_id) is None:
        raise NotFound(f"No node {node_id}.")
    return node_id


async def _listing(services: Services, node_id: str) -> NodePrices:
    state = services.registry.get(node_id) or NodeState(node_id, "")
    found = await payments_of(services).pricing.node_prices(state)
    return NodePrices(
        node_id=node_id,
        prices=[model_price(name, key, p) for key, (name, p) in sorted(found.items())],
    )


@router.get("/{node_id}/prices", response_model=NodePrices)
async def get_prices(node_id: str, who: PartyDep, services: ServicesDep) -> NodePrices:
    """The node's price for each model it serves or has priced (USDC per 1K tokens)."""
    return await _listing(services, await _node(services, node_id, who))


@router.put("/{node_id}/prices", response_model=NodePrices)
async def set_prices(
    node_id: str, body: PriceSet, who: PartyDep, services: ServicesDep
) -> NodePrices:
    """Set the node's price for one model (owner only)."""
    money = payments_of(services)
    node_id = await _node(services, node_id, who)
    row = await node_store.node_by_id(services.db, node_id)
    assert row is not None
    if not may_manage(services.settings, row, who):
        raise Forbidden("Only the node's owner sets its prices.")
    pin, pout = (
        _price("input_per_1k", body.input_per_1k),
        _price("output_per_1k", body.output_per_1k),
    )
    if not routing_key(body.model):
        raise BadRequest("model: give the model's name, e.g. qwen2.5:7b")
    await money.pricing.set_price(node_id, body.model, pin, pout)
    return await _listing(services, node_id)
