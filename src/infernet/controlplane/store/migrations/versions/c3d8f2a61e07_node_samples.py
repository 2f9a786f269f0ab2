"""node samples, jobs by routing key (issue 19: history charts per node and per model)

Revision ID: c3d8f2a61e07
Revises: a7c4e1f09b23
Create Date: 2026-12-03 11:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c3d8f2a61e07"
down_revision = "a7c4e1f09b23"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("node_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gpu_util", sa.Float(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_node_samples_node_at", "node_samples", ["node_id", "at"], unique=False)
    op.create_index("ix_node_samples_at", "node_samples", ["at"], unique=False)
    op.create_index("ix_jobs_routing_key", "jobs", ["routing_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_jobs_routing_key", table_name="jobs")
    op.drop_index("ix_node_samples_at", table_name="node_samples")
    op.drop_index("ix_node_samples_node_at", table_name="node_samples")
    op.drop_table("node_samples")
