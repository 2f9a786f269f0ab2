"""Operator prices per node and model routing key (integer micro-USDC per 1K tokens)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import node_prices


@dataclass(frozen=True, slots=True)
class PriceRow:
    node_id: str
    routing_key: str
    model: str
    input_micros: int
    output_micros: int


def _row(r: object) -> PriceRow:
    return PriceRow(
        r.node_id,  # type: ignore[attr-defined]
        r.routing_key,  # type: ignore[attr-defined]
        r.model,  # type: ignore[attr-defined]
        int(r.input_micros_per_1k),  # type: ignore[attr-defined]
        int(r.output_micros_per_1k),  # type: ignore[attr-defined]
    )


async def set_price(
    db: AsyncEngine,
    node_id: str,
    routing_key: str,
    model: str,
    input_micros: int,
    output_micros: int,
) -> None:
    values = {
        "model": model,
        "input_micros_per_1k": input_micros,
        "output_micros_per_1k": output_micros,
        "updated_at": utcnow(),
    }
    where = (node_prices.c.node_id == node_id, node_prices.c.routing_key == routing_key)
    async with db.begin() as conn:
        result = await conn.execute(update(node_prices).where(*where).values(**values))
        if not result.rowcount:
            await conn.execute(
                insert(node_prices).values(node_id=node_id, routing_key=routing_key, **values)
            )


async def clear_price(db: AsyncEngine, node_id: str, routing_key: str) -> bool:
    where = (node_prices.c.node_id == node_id, node_prices.c.routing_key == routing_key)
    async with db.begin() as conn:
        return bool((await conn.execute(delete(node_prices).where(*where))).rowcount)


async def prices_for_node(db: AsyncEngine, node_id: str) -> list[PriceRow]:
    query = select(node_prices).where(node_prices.c.node_id == node_id)
    async with db.connect() as conn:
        return [_row(r) for r in (await conn.execute(query)).all()]


async def prices_for_key(db: AsyncEngine, routing_key: str) -> dict[str, PriceRow]:
    query = select(node_prices).where(node_prices.c.routing_key == routing_key)
    async with db.connect() as conn:
        return {r.node_id: _row(r) for r in (await conn.execute(query)).all()}
