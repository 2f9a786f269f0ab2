"""Stored Compute Payment Receipts: one row per completed job segment, countersigned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import receipts
from infernet.protocol.receipts import Receipt


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    receipt: Receipt
    job_id: str
    attempt: int
    node_id: str
    account_id: str
    usage_source: str
    status: str
    created_at: datetime


def _stored(row: object) -> StoredReceipt:
    r = row._mapping  # type: ignore[attr-defined]
    receipt = Receipt.model_validate(
        {
            **r["fields"],
            "platform_signature": r["platform_signature"],
            "client_signature": r["client_signature"],
        }
    )
    return StoredReceipt(
        receipt,
        r["job_id"],
        r["attempt"],
        r["node_id"],
        r["account_id"],
        r["usage_source"],
        r["status"],
        r["created_at"],
    )


async def insert_receipt(
    conn: AsyncConnection,
    receipt: Receipt,
    *,
    attempt: int,
    node_id: str,
    account_id: str,
    usage_source: str,
) -> None:
    assert receipt.platform_signature is not None
    fields = receipt.model_dump(exclude={"platform_signature", "client_signature"})
    await conn.execute(
        insert(receipts).values(
            id=receipt.id,
            job_id=receipt.job_id,
            attempt=attempt,
            node_id=node_id,
            account_id=account_id,
            fields=fields,
            platform_signature=receipt.platform_signature,
            client_signature=None,
            usage_source=usage_source,
            status="countersigned",
            created_at=utcnow(),
        )
    )


async def get_receipt(db: AsyncEngine, receipt_id: str) -> StoredReceipt | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(receipts).where(receipts.c.id == receipt_id))).first()
    return _stored(row) if row else None


async def receipts_for_job(db: AsyncEngine, job_id: str) -> list[StoredReceipt]:
    query = select(receipts).where(receipts.c.job_id == job_id).order_by(receipts.c.attempt)
    async with db.connect() as conn:
        return [_stored(r) for r in (await conn.execute(query)).all()]


async def receipts_for_nodes(
    db: AsyncEngine, node_ids: list[str], since: datetime | None = None, limit: int = 1000
) -> list[StoredReceipt]:
    query = select(receipts).where(receipts.c.node_id.in_(node_ids))
    if since is not None:
        query = query.where(receipts.c.created_at >= since)
    query = query.order_by(receipts.c.created_at.desc()).limit(limit)
    async with db.connect() as conn:
        return [_stored(r) for r in (await conn.execute(query)).all()]


async def set_client_signature(db: AsyncEngine, receipt_id: str, signature: str) -> None:
    async with db.begin() as conn:
        await conn.execute(
            update(receipts).where(receipts.c.id == receipt_id).values(client_signature=signature)
        )


async def mark_claimed(conn: AsyncConnection, node_ids: list[str]) -> None:
    await conn.execute(
        update(receipts)
        .where(receipts.c.node_id.in_(node_ids), receipts.c.status == "countersigned")
        .values(status="claimed")
    )
