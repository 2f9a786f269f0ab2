"""Rows of `node_verifications` (verification_tables.py): written once per check,
read newest first per node."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.ids import new_id, utcnow
from infernet.controlplane.store.verification_tables import node_verifications as table


@dataclass(frozen=True, slots=True)
class Check:
    node_id: str
    job_id: str | None
    kind: str
    model: str
    passed: bool
    checks: str = ""
    detail: str = ""
    positions: int = 0
    cost: float = 0.0
    withheld_usdc: str | None = None
    at: datetime | None = None
    id: str = ""


async def record(db: AsyncEngine, check: Check) -> str:
    row_id = new_id("ver")
    values = {
        "id": row_id,
        "node_id": check.node_id,
        "job_id": check.job_id,
        "kind": check.kind,
        "model": check.model,
        "passed": check.passed,
        "checks": check.checks[:200],
        "detail": check.detail,
        "positions": check.positions,
        "cost": check.cost,
        "created_at": check.at or utcnow(),
    }
    async with db.begin() as conn:
        await conn.execute(insert(table).values(**values))
    return row_id


async def set_withheld(db: AsyncEngine, row_id: str, amount: str) -> None:
    async with db.begin() as conn:
        await conn.execute(update(table).where(table.c.id == row_id).values(withheld_usdc=amount))


async def recent(db: AsyncEngine, node_id: str, limit: int) -> list[Check]:
    """The node's last `limit` checks, newest first."""
    query = (
        select(table)
        .where(table.c.node_id == node_id)
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(limit)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [
        Check(
            r["node_id"],
            r["job_id"],
            r["kind"],
            r["model"],
            bool(r["passed"]),
            r["checks"],
            r["detail"],
            r["positions"],
            float(r["cost"]),
            r["withheld_usdc"],
            r["created_at"],
            r["id"],
        )
        for r in rows
    ]
