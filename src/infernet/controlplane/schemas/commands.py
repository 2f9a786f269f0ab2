"""Model-management commands queued for a node (api/commands.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from infernet.controlplane.store.ids import iso
from infernet.protocol.wire import CommandType


class CommandCreate(BaseModel):
    type: CommandType
    model: str = Field(min_length=1, max_length=300)


class CommandPublic(BaseModel):
    id: str
    node_id: str
    type: str
    model: str
    status: str
    error: str | None
    issued_at: str
    updated_at: str
    completed_at: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CommandPublic:
        return cls(
            id=row["id"],
            node_id=row["node_id"],
            type=row["type"],
            model=row["model"],
            status=row["status"],
            error=row["error"],
            issued_at=iso(row["issued_at"]) or "",
            updated_at=iso(row["updated_at"]) or "",
            completed_at=iso(row["completed_at"]),
        )


class CommandList(BaseModel):
    commands: list[CommandPublic]
