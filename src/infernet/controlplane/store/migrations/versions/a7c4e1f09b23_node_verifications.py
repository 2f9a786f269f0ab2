"""node verifications (issue 18: spot-checks, hidden checks, reputation)

Revision ID: a7c4e1f09b23
Revises: b7e2c4d91a3f
Create Date: 2026-12-03 07:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a7c4e1f09b23"
down_revision = "b7e2c4d91a3f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_verifications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("node_id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("checks", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("positions", sa.Integer(), nullable=False),
        sa.Column("withheld_usdc", sa.String(length=40), nullable=True),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_node_verifications_node_created",
        "node_verifications",
        ["node_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_node_verifications_node_created", table_name="node_verifications")
    op.drop_table("node_verifications")
