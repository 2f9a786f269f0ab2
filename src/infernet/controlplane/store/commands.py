"""Node commands (Book 3.3): `model_install` / `model_remove` queued for one node.

Lifecycle: `pending` (queued) → `running` (the node acknowledged that it started) →
`done` | `failed` (with the node's reason). A command is delivered in every heartbeat
response of its node while it is `pending` or `running`, so a node that restarts in the
middle of an install picks it up again; the node remembers which ids it has executed, so a
command delivered twice runs once. Final states are never overwritten (a late duplicate
ack changes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store.ids import new_id, utcnow
from infernet.controlplane.store.tables import node_commands
from infernet.protocol.wire import CommandType

CommandRow = Mapping[str, Any]
CommandStatus = Literal["pending", "running", "done", "failed"]
OPEN_STATUSES: tuple[CommandStatus, ...] = ("pending", "running")
FINAL_STATUSES: tuple[CommandStatus, ...] = ("done", "failed")


async def queue_command(
    db: AsyncEngine, *, node_id: str, account_id: str | None, type: CommandType, model: str
) -> CommandRow:
    now = utcnow()
    values = {
        "id": new_id("cmd"),
        "node_id": node_id,
        "account_id": account_id,
        "type": type,
        "model": model,
        "status": "pending",
        "error": None,
        "issued_at": now,
        "updated_at": now,
        "completed_at": None,
    }
    async with db.begin() as conn:
        await conn.execute(insert(node_commands).values(**values))
    return values


async def get_command(db: AsyncEngine, command_id: str) -> CommandRow | None:
    async with db.connect() as conn:
        query = select(node_commands).where(node_commands.c.id == command_id)
        row = (await conn.execute(query)).first()
    return dict(row._mapping) if row else None


async def commands_for_node(db: AsyncEngine, node_id: str, *, limit: int = 100) -> list[CommandRow]:
    """The node's commands, newest first."""
    query = (
        select(node_commands)
        .where(node_commands.c.node_id == node_id)
        .order_by(node_commands.c.issued_at.desc())
        .limit(limit)
    )
    async with db.connect() as conn:
        return [dict(row._mapping) for row in (await conn.execute(query)).all()]


async def open_commands(db: AsyncEngine, node_id: str) -> list[CommandRow]:
    """What to deliver in the node's next heartbeat response, oldest first."""
    query = (
        select(node_commands)
        .where(node_commands.c.node_id == node_id, node_commands.c.status.in_(OPEN_STATUSES))
        .order_by(node_commands.c.issued_at)
    )
    async with db.connect() as conn:
        return [dict(row._mapping) for row in (await conn.execute(query)).all()]


async def record_ack(
    db: AsyncEngine, command_id: str, status: CommandStatus, error: str | None
) -> bool:
    """Apply the node's ack while the command is still open; False when it was final."""
    now = utcnow()
    values: dict[str, Any] = {"status": status, "error": error, "updated_at": now}
    if status in FINAL_STATUSES:
        values["completed_at"] = now
    statement = (
        update(node_commands)
        .where(node_commands.c.id == command_id, node_commands.c.status.in_(OPEN_STATUSES))
        .values(**values)
    )
    async with db.begin() as conn:
        result = await conn.execute(statement)
    return bool(result.rowcount)


class OpenCommandCache:
    """`open_commands` without a query for nodes known to have none (nearly all, nearly
    always): a heartbeat of such a node costs no database round trip.

    A node is remembered as having none after a query found none. Queuing a command
    calls `forget` for its node on every replica (`controlplane/nodes/cache.py` broadcasts
    it on the bus), and a bus resync forgets every node. Acks only close commands, so
    they need no `forget`: a node with open commands is queried on every beat until the
    query finds none. A query that raced with a `forget` does not mark its node.
    """

    def __init__(self) -> None:
        self._none: set[str] = set()
        self._generation = 0

    def known_empty(self, node_id: str) -> bool:
        return node_id in self._none

    async def open_commands(self, db: AsyncEngine, node_id: str) -> list[CommandRow]:
        if node_id in self._none:
            return []
        generation = self._generation
        rows = await open_commands(db, node_id)
        if not rows and generation == self._generation:
            self._none.add(node_id)
        return rows

    def forget(self, node_id: str | None) -> None:
        """``node_id`` may have open commands now (None: every node may)."""
        self._generation += 1
        if node_id is None:
            self._none.clear()
        else:
            self._none.discard(node_id)
