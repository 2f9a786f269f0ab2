"""GPU utilization from heartbeats: each figure a node claims is bounded before it is
kept, averaged per node and minute, and a minute is stored once it is over."""

from __future__ import annotations

from datetime import UTC, datetime

from infernet.controlplane.nodes.samples import GpuSamples, gpu_utilization
from infernet.protocol.wire import GpuSummary, Heartbeat


def beat(*utils: float | None) -> Heartbeat:
    gpus = [GpuSummary(vendor="nvidia", name="L4", vram_mb=24000, utilization_pct=u) for u in utils]
    return Heartbeat(version="1", backend="vllm", backend_healthy=True, served_models=[], gpus=gpus)


def test_each_gpus_claim_is_clamped_and_nonsense_is_dropped() -> None:
    assert gpu_utilization(beat(150.0, -20.0)) == 50.0  # 100 and 0
    assert gpu_utilization(beat(float("nan"), float("inf"), 30.0)) == 30.0
    assert gpu_utilization(beat(None)) is None  # a driver that does not say
    assert gpu_utilization(beat()) is None  # a CPU node
    assert gpu_utilization(beat(*[80.0] * 16, *[0.0] * 1000)) == 80.0  # 16 GPUs read at most


def test_a_minute_is_averaged_and_taken_once_it_is_over() -> None:
    now = [1_800_000_000.0 + 5]  # 5 s into a minute
    samples = GpuSamples(clock=lambda: now[0])
    samples.record("node_a", beat(20.0))
    samples.record("node_a", beat(60.0))
    samples.record("node_b", beat())  # reports nothing: no sample
    assert samples.take_finished() == []  # the minute is under way
    assert samples.latest == {"node_a": 60.0}
    now[0] += 60
    (row,) = samples.take_finished()
    assert (row.node_id, row.gpu_util, row.samples) == ("node_a", 40.0, 2)
    assert row.at == datetime.fromtimestamp(1_800_000_000 - 1_800_000_000 % 60, UTC)
    assert samples.take_finished() == []


def test_rows_that_could_not_be_stored_are_taken_again() -> None:
    now = [1_800_000_000.0]
    samples = GpuSamples(clock=lambda: now[0])
    samples.record("node_a", beat(30.0))
    now[0] += 60
    rows = samples.take_finished()
    samples.put_back(rows)
    assert samples.take_finished() == rows
