"""Per-node series on `/metrics`, for Grafana: what each node has done and how fast, read
from the registry when Prometheus scrapes.

`infernet_node_jobs_done{node}`, `infernet_node_jobs_routed_for_cache{node}` (jobs sent to
it because it probably held the start of their prompt: jobs/placement.py; their ratio is
the node's cache-routed share), `infernet_node_tokens_per_second{node}` and
`infernet_node_ttft_seconds{node}` (measured: exponential moving averages of its jobs),
`infernet_node_active_jobs{node}`; the counters `infernet_node_completion_tokens_total`
and `infernet_node_earnings_usdc_total` (its owner's part, as settled: money/billing.py),
and `infernet_node_gpu_utilization_percent{node}` (its last heartbeat's figure, bounded:
nodes/samples.py; absent when it reports none or is offline). All count since this control plane
started (`rate()` them in Grafana). Only nodes online now or that have run a job are
listed, so a long tail of nodes gone for good does not grow the scrape.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from infernet.controlplane.nodes.samples import GpuSamples

SERIES: tuple[tuple[str, str], ...] = (
    ("jobs_done", "Jobs the node completed since the control plane started"),
    ("jobs_routed_for_cache", "Jobs sent to the node for what its cache probably held"),
    ("tokens_per_second", "Measured generation speed (moving average)"),
    ("ttft_seconds", "Measured dispatch to first token (moving average)"),
    ("active_jobs", "Jobs running on the node now"),
)
COUNTERS: tuple[tuple[str, str], ...] = (
    ("completion_tokens", "Completion tokens of the jobs the node finished"),
    ("earnings_usdc", "What the node earned its owner (USDC, as settled)"),
)


def _values(node: NodeState) -> tuple[float, ...]:
    return (
        node.jobs_done,
        node.cache_routed,
        node.tokens_per_s,
        node.ttft_s,
        len(node.active_jobs),
    )


def _counts(node: NodeState) -> tuple[float, ...]:
    return (node.tokens_done, float(node.earned))


class NodeSeries(Collector):
    def __init__(self) -> None:
        self.registry: NodeRegistry | None = None
        self.samples: GpuSamples | None = None

    def describe(self) -> Iterable[Metric]:
        return []

    def _listed(self) -> list[tuple[NodeState, bool]]:
        """The nodes to list, each with whether it is online now."""
        if self.registry is None:
            return []
        now, offline_after = time.monotonic(), self.registry.offline_after_s
        states = [(n, n.online(now, offline_after)) for n in self.registry.all()]
        return [(n, online) for n, online in states if online or n.jobs_done]

    def collect(self) -> Iterator[Metric]:
        families = [
            GaugeMetricFamily(f"infernet_node_{name}", text, labels=["node"])
            for name, text in SERIES
        ]
        counters = [
            CounterMetricFamily(f"infernet_node_{name}", text, labels=["node"])
            for name, text in COUNTERS
        ]
        gpu = GaugeMetricFamily(
            "infernet_node_gpu_utilization_percent", "GPU utilization, last beat", labels=["node"]
        )
        latest = self.samples.latest if self.samples is not None else {}
        for node, online in self._listed():
            for family, value in zip(families, _values(node), strict=True):
                family.add_metric([node.node_id], value)
            for counter, count in zip(counters, _counts(node), strict=True):
                counter.add_metric([node.node_id], count)
            if online and (util := latest.get(node.node_id)) is not None:
                gpu.add_metric([node.node_id], util)
        yield from families
        yield from counters
        yield gpu
