"""What only heartbeats say about a node over time: its GPUs' utilization, one row per
node per minute it reported some (nodes/samples.py averages the minute's beats). Kept
`SAMPLE_RETENTION` (watchers/recovery.py prunes older rows), so a node costs at most
one row a minute for a week; the dashboard's charts read it (store/timeseries.py).
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Index, Integer, String, Table

from infernet.controlplane.store.tables import metadata

node_samples = Table(
    "node_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node_id", String(40), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),  # the minute's start
    Column("gpu_util", Float, nullable=False),  # mean of the minute's beats, 0..100 %
    Column("samples", Integer, nullable=False),  # beats averaged (weights replicas' rows)
    Index("ix_node_samples_node_at", "node_id", "at"),
    Index("ix_node_samples_at", "at"),
)
