"""GPU utilization as nodes report it in their heartbeats, averaged per node and minute
for the dashboard's charts (store/sample_tables.py) and kept as the latest value for
`/metrics` (web/node_metrics.py).

What a beat says is a claim: each GPU's figure is kept only when it is a finite number,
clamped to 0..100 %, and at most `MAX_GPUS` GPUs are read. A node whose beats carry no
figure (a CPU node, a driver that does not say) gets no samples: its chart says so. The
heartbeat path only adds to memory; a background task writes the finished minutes
(watchers/sweeps.py), one row per node and minute.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from infernet.controlplane.store.samples import Sample
from infernet.protocol.wire import Heartbeat

MAX_GPUS = 16
MAX_PENDING = 100_000  # (node, minute) sums held while the database is away; then dropped
MINUTE_S = 60
SAMPLE_RETENTION = timedelta(days=7)  # the longest chart window


def gpu_utilization(beat: Heartbeat) -> float | None:
    """The mean utilization (%) of the beat's GPUs that report one, each bounded; None
    when none does."""
    values = [
        min(100.0, max(0.0, gpu.utilization_pct))
        for gpu in beat.gpus[:MAX_GPUS]
        if gpu.utilization_pct is not None and math.isfinite(gpu.utilization_pct)
    ]
    return sum(values) / len(values) if values else None


class GpuSamples:
    """Per node: the running sum of the current minute's figures, and the latest one."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._minutes: dict[tuple[str, int], tuple[float, int]] = {}  # (node, minute) -> sum, n
        self.latest: dict[str, float] = {}

    def record(self, node_id: str, beat: Heartbeat) -> None:
        util = gpu_utilization(beat)
        if util is None:
            return
        self.latest[node_id] = util
        key = (node_id, int(self._clock()) // MINUTE_S)
        total, count = self._minutes.get(key, (0.0, 0))
        self._minutes[key] = (total + util, count + 1)

    def take_finished(self) -> list[Sample]:
        """The minutes that ended, as rows to store (forgotten here)."""
        current = int(self._clock()) // MINUTE_S
        finished = [key for key in self._minutes if key[1] < current]
        rows = []
        for node_id, minute in finished:
            total, count = self._minutes.pop((node_id, minute))
            at = datetime.fromtimestamp(minute * MINUTE_S, UTC)
            rows.append(Sample(node_id, at, total / count, count))
        return rows

    def put_back(self, rows: list[Sample]) -> None:
        """Rows that could not be stored: kept for the next try (the database was away),
        up to `MAX_PENDING`."""
        for row in rows[: max(0, MAX_PENDING - len(self._minutes))]:
            key = (row.node_id, int(row.at.timestamp()) // MINUTE_S)
            total, count = self._minutes.get(key, (0.0, 0))
            self._minutes[key] = (total + row.gpu_util * row.samples, count + row.samples)
