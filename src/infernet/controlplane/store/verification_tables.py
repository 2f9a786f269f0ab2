"""The verifications of nodes' answers (controlplane/verification/): one row per check,
which the node's reputation is computed from and its owner reads. A row names which
checks failed and why; it never holds the prompt (a hidden check's prompt stays unseen).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, String, Table, Text

from infernet.controlplane.store.tables import metadata

node_verifications = Table(
    "node_verifications",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("node_id", String(40), nullable=False),
    Column("job_id", String(40)),
    Column("kind", String(10), nullable=False),  # spot (a client's job) | hidden
    Column("model", String(300), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("checks", String(200), nullable=False, default=""),  # the failed ones
    Column("detail", Text, nullable=False, default=""),
    Column("positions", Integer, nullable=False, default=0),
    Column("withheld_usdc", String(40)),  # earnings withheld for a failed job
    Column("cost", Float, nullable=False, default=0.0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_node_verifications_node_created", "node_id", "created_at"),
)
