"""Registered nodes' stored facts: the batched `last_heartbeat_at` flush writes every
node's own moment, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import nodes
from infernet.protocol.keys import NodeKey


async def last_beat(db: AsyncEngine, node_id: str) -> datetime | None:
    row = await nodes.node_by_id(db, node_id)
    assert row is not None
    moment: datetime | None = row["last_heartbeat_at"]
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


async def test_each_node_gets_its_own_last_heartbeat(db: AsyncEngine) -> None:
    ids = [await nodes.register_node(db, NodeKey.generate().public_hex, "n") for _ in range(4)]
    base = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    seen = {node_id: base + timedelta(seconds=i) for i, node_id in enumerate(ids[:3])}
    await nodes.flush_heartbeats(db, {**seen, "node_gone": base})  # a removed node: no-op
    assert [await last_beat(db, node_id) for node_id in ids] == [*seen.values(), None]
    later = {ids[0]: base + timedelta(minutes=1)}
    await nodes.flush_heartbeats(db, later)
    assert await last_beat(db, ids[0]) == later[ids[0]]
    assert await last_beat(db, ids[1]) == seen[ids[1]]


async def test_nothing_seen_writes_nothing(db: AsyncEngine) -> None:
    await nodes.flush_heartbeats(db, {})
