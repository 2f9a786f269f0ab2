"""job routing reason

Revision ID: b7e2c4d91a3f
Revises: e684fa9ef957
Create Date: 2026-12-03 07:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b7e2c4d91a3f"
down_revision = "e684fa9ef957"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("routing", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "routing")
