"""Writing and pruning the nodes' per-minute GPU samples (store/sample_tables.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.sample_tables import node_samples


@dataclass(frozen=True, slots=True)
class Sample:
    node_id: str
    at: datetime  # the minute's start
    gpu_util: float  # 0..100, bounded before it gets here (nodes/samples.py)
    samples: int


async def add(db: AsyncEngine, rows: Sequence[Sample]) -> None:
    if not rows:
        return
    values = [
        {"node_id": r.node_id, "at": r.at, "gpu_util": r.gpu_util, "samples": r.samples}
        for r in rows
    ]
    async with db.begin() as conn:
        await conn.execute(insert(node_samples), values)


async def forget_before(db: AsyncEngine, moment: datetime) -> int:
    async with db.begin() as conn:
        result = await conn.execute(delete(node_samples).where(node_samples.c.at < moment))
    return int(result.rowcount or 0)
