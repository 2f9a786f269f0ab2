"""Benchmark sizes: the documented full run, and `--quick` (everything tiny, well under a
minute, for the smoke test). Every loop in the suite is bounded by these counts and by
the `*_budget_s` time limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    llama_concurrency: tuple[int, ...] = (1, 8)
    llama_rounds: int = 6
    llama_requests: int = 30  # at least this many per door at each concurrency
    llama_max_tokens: int = 32
    fake_concurrency: tuple[int, ...] = (1, 32, 64)
    fake_rounds: int = 5
    fake_per_client: int = 5
    fake_chunks: int = 64
    router_nodes: tuple[int, ...] = (1_000, 10_000, 100_000)
    router_decisions: int = 200
    heartbeat_beats: int = 20_000
    heartbeat_nodes: int = 2_000
    heartbeat_http_beats: int = 10_000
    heartbeat_http_concurrency: int = 32
    heartbeat_channels: int = 64
    streams: int = 1_000
    stream_nodes: int = 10
    stream_runs: int = 3
    sim_nodes: int = 10_000
    sim_ramp_budget_s: float = 300.0
    sim_jobs: int = 20_000  # a job phase of 30-70 s: 3,000 took 4 s on one replica
    sim_concurrency: int = 64
    prefix_nodes: int = 3
    prefix_turns: int = 5
    prefix_rules: int = 36  # about 1,100 tokens of shared system prompt
    prefix_history_days: int = 25  # about 400 tokens of each conversation's own record
    prefix_max_tokens: int = 12
    prefix_think_s: tuple[float, float] = (6.0, 12.0)


FULL = Sizes()
QUICK = Sizes(
    llama_concurrency=(1, 2),
    llama_rounds=1,
    llama_requests=1,
    llama_max_tokens=4,
    fake_concurrency=(1, 4),
    fake_rounds=1,
    fake_per_client=2,
    fake_chunks=8,
    router_nodes=(100, 1_000),
    router_decisions=20,
    heartbeat_beats=300,
    heartbeat_nodes=20,
    heartbeat_http_beats=100,
    heartbeat_http_concurrency=4,
    heartbeat_channels=4,
    streams=20,
    stream_nodes=2,
    stream_runs=2,
    sim_nodes=20,
    sim_ramp_budget_s=20.0,
    sim_jobs=40,
    sim_concurrency=4,
    prefix_turns=2,
    prefix_rules=2,
    prefix_history_days=2,
    prefix_max_tokens=4,
    prefix_think_s=(0.0, 0.1),
)
