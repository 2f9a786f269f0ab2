"""trust boundary: node offences; sessions named, tied to their API key, sliding;
commands a node queues for itself (no account)

Revision ID: 7f3a9c1d2e4b
Revises: dd1394636808
Create Date: 2026-11-24 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7f3a9c1d2e4b"
down_revision = "dd1394636808"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("node_commands", schema=None) as batch_op:
        batch_op.alter_column("account_id", existing_type=sa.String(length=40), nullable=True)
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offences", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_offence", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_offence_at", sa.DateTime(timezone=True), nullable=True))
    # Sessions opened before this revision lasted two weeks and name no key: end them
    # (their holders sign in again) rather than guess which key opened each.
    op.execute("DELETE FROM dashboard_sessions")
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id", sa.String(length=40), nullable=False))
        batch_op.add_column(sa.Column("key_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False))
        batch_op.create_unique_constraint(batch_op.f("uq_dashboard_sessions_id"), ["id"])
        batch_op.create_index(batch_op.f("ix_dashboard_sessions_key_id"), ["key_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_sessions_key_id"))
        batch_op.drop_constraint(batch_op.f("uq_dashboard_sessions_id"), type_="unique")
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("key_id")
        batch_op.drop_column("id")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_column("last_offence_at")
        batch_op.drop_column("last_offence")
        batch_op.drop_column("offences")
    op.execute("DELETE FROM node_commands WHERE account_id IS NULL")
    with op.batch_alter_table("node_commands", schema=None) as batch_op:
        batch_op.alter_column("account_id", existing_type=sa.String(length=40), nullable=False)
