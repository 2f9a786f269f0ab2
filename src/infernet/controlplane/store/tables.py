"""The system of record. SQLite by default (aiosqlite); PostgreSQL at scale (asyncpg)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(20), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("account_id", ForeignKey("accounts.id"), index=True),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_heartbeat_at", DateTime(timezone=True)),
    Column("version", String(40)),
    Column("backend", String(20)),
    Column("vram_tier", String(10)),
    Column("served_models", JSON, nullable=False, default=list),
    Column("revoked", Boolean, nullable=False, default=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("model", String(300), nullable=False),
    Column("routing_key", String(300), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("node_id", String(40), index=True),
    Column("request", JSON, nullable=False),
    Column("content", Text),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("usage_source", String(20)),
    Column("finish_reason", String(20)),
    Column("error", String(40)),
    Column("error_message", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("latency_ms", Float),
)
