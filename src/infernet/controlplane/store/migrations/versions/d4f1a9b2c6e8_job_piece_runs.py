"""job stream pieces stored in runs, a row per batch of one job's pieces (issue 20)

Revision ID: d4f1a9b2c6e8
Revises: c3d8f2a61e07
Create Date: 2026-12-03 23:50:00.000000

The pieces already stored (jobs that ran lately, kept for resumes) move over as runs of
one piece, and back again on a downgrade.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "d4f1a9b2c6e8"
down_revision = "c3d8f2a61e07"
branch_labels = None
depends_on = None


def _create(name: str, texts: str) -> sa.Table:
    """`job_pieces` (a row per piece, `text`) or `job_piece_runs` (per run, `texts`)."""
    return op.create_table(
        name,
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(texts, sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "seq"),
    )


def upgrade() -> None:
    runs = _create("job_piece_runs", "texts")
    old = sa.table("job_pieces", sa.column("job_id"), sa.column("seq"), sa.column("text"))
    rows = op.get_bind().execute(sa.select(old.c.job_id, old.c.seq, old.c.text)).all()
    if rows:
        op.bulk_insert(
            runs, [{"job_id": j, "seq": seq, "texts": json.dumps([text])} for j, seq, text in rows]
        )
    op.drop_table("job_pieces")


def downgrade() -> None:
    pieces = _create("job_pieces", "text")
    runs = sa.table("job_piece_runs", sa.column("job_id"), sa.column("seq"), sa.column("texts"))
    rows = op.get_bind().execute(sa.select(runs.c.job_id, runs.c.seq, runs.c.texts)).all()
    expanded = [
        {"job_id": job_id, "seq": first + i, "text": text}
        for job_id, first, texts in rows
        for i, text in enumerate(json.loads(texts))
    ]
    if expanded:
        op.bulk_insert(pieces, expanded)
    op.drop_table("job_piece_runs")
