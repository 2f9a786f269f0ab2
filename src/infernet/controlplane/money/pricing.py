"""What a node charges per 1K input and output tokens for a model, and the defaults.

Operators set a price per node and model (`PUT /api/v1/nodes/{id}/prices`, `infernet
price set`); a model without one uses the default for its size, from the Book's
illustrative table (§8.6, per 1K output tokens), with input at a quarter of output (the
Book: output ≈ 4x input):

| parameters (from the name/catalogue) | output / 1K | input / 1K |
|--------------------------------------|-------------|------------|
| under 5B (the Book's 1-3B; SmolLM2)  | 0.001       | 0.00025    |
| 5B to under 10B (7B, 8B)             | 0.002       | 0.0005     |
| 10B to under 20B (13-14B)            | 0.005       | 0.00125    |
| 20B to under 50B (30-33B)            | 0.012       | 0.003      |
| 50B and up (70B+)                    | 0.025       | 0.00625    |
| size unknown                         | 0.005       | 0.00125    |

An unknown size gets the middle band, never zero: cheap enough not to scare clients off,
dear enough not to undersell a large model; its operator should set a real price.
Tier premium: nodes in the `>=48gb` tier charge 20 % more by default (PAY-02), chosen so
every default stays exact at 6 decimal places. Prices are what the client pays; the node
keeps 85 % (see money.py). The router does not weigh price yet: a job goes to the node
that will answer soonest, and the client pays that node's price, never more than the
highest price among the nodes serving the model when it submitted (that is what is held).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from infernet.controlplane.store import prices as store
from infernet.protocol.modelnames import routing_key
from infernet.protocol.money import from_micros, round6, to_micros
from infernet.protocol.tiers import FLAGSHIP_TIER
from infernet.protocol.vram import model_spec

_BANDS: tuple[tuple[float, Decimal], ...] = (
    (5.0, Decimal("0.001")),
    (10.0, Decimal("0.002")),
    (20.0, Decimal("0.005")),
    (50.0, Decimal("0.012")),
)
LARGEST_BAND = Decimal("0.025")
UNKNOWN_SIZE_OUTPUT = Decimal("0.005")
TIER_PREMIUM = Decimal("1.2")
INPUT_FRACTION = Decimal("0.25")


@dataclass(frozen=True, slots=True)
class Price:
    input_per_1k: Decimal
    output_per_1k: Decimal
    source: Literal["operator", "default"]


def default_output_price(params_b: float | None) -> Decimal:
    if params_b is None:
        return UNKNOWN_SIZE_OUTPUT
    for upper, output in _BANDS:
        if params_b < upper:
            return output
    return LARGEST_BAND


def default_price(model: str, vram_tier: str = "cpu") -> Price:
    output = default_output_price(model_spec(model).params_b)
    if vram_tier == FLAGSHIP_TIER:
        output = round6(output * TIER_PREMIUM)
    return Price(round6(output * INPUT_FRACTION), output, "default")


def _from_row(row: store.PriceRow) -> Price:
    return Price(from_micros(row.input_micros), from_micros(row.output_micros), "operator")


class Pricing:
    def __init__(self, db: AsyncEngine, registry: NodeRegistry) -> None:
        self._db = db
        self._registry = registry

    def _default(self, node_id: str, key: str) -> Price:
        node = self._registry.get(node_id)
        return default_price(key, node.vram_tier if node else "cpu")

    async def price_for(self, node_id: str, key: str) -> Price:
        """The node's price for the model with routing key `key`."""
        rows = await store.prices_for_node(self._db, node_id)
        for row in rows:
            if row.routing_key == key:
                return _from_row(row)
        return self._default(node_id, key)

    async def set_price(
        self, node_id: str, model: str, input_per_1k: Decimal, output: Decimal
    ) -> str:
        key = routing_key(model)
        await store.set_price(
            self._db, node_id, key, model, to_micros(input_per_1k), to_micros(output)
        )
        return key

    async def clear_price(self, node_id: str, model: str) -> bool:
        return await store.clear_price(self._db, node_id, routing_key(model))

    async def node_prices(self, node: NodeState) -> dict[str, tuple[str, Price]]:
        """routing key -> (model name, price) for what the node serves or has priced."""
        result = {
            key: (name, self._default(node.node_id, key)) for key, name in node.served.items()
        }
        for row in await store.prices_for_node(self._db, node.node_id):
            result[row.routing_key] = (row.model, _from_row(row))
        return result

    async def prices_among(self, key: str, nodes: list[NodeState]) -> list[Price]:
        rows = await store.prices_for_key(self._db, key)
        return [
            _from_row(rows[n.node_id]) if n.node_id in rows else self._default(n.node_id, key)
            for n in nodes
        ]

    async def lowest(self, key: str, nodes: list[NodeState]) -> Price | None:
        prices = await self.prices_among(key, nodes)
        return min(prices, key=lambda p: (p.output_per_1k, p.input_per_1k), default=None)

    async def highest(self, key: str, nodes: list[NodeState]) -> Price:
        """The most any node serving `key` charges: what a job's hold is computed at.
        With no node online, the default at the premium tier (the highest default)."""
        prices = await self.prices_among(key, nodes)
        if not prices:
            return default_price(key, FLAGSHIP_TIER)
        return Price(
            max(p.input_per_1k for p in prices), max(p.output_per_1k for p in prices), "default"
        )
