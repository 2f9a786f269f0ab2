"""Per-node series on `/metrics`, for Grafana: what each node has done and how fast, read
from the registry when Prometheus scrapes.

`infernet_node_jobs_done{node}`, `infernet_node_jobs_routed_for_cache{node}` (jobs sent to
it because it probably held the start of their prompt: jobs/placement.py; their ratio is
the node's cache-routed share), `infernet_node_tokens_per_second{node}` and
`infernet_node_ttft_seconds{node}` (measured: exponential moving averages of its jobs),
`infernet_node_active_jobs{node}`. Only nodes online now or that have run a job are
listed, so a long tail of nodes gone for good does not grow the scrape.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infernet.controlplane.nodes.registry import NodeRegistry, NodeState

SERIES: tuple[tuple[str, str], ...] = (
    ("jobs_done", "Jobs the node completed since the control plane started"),
    ("jobs_routed_for_cache", "Jobs sent to the node for what its cache probably held"),
    ("tokens_per_second", "Measured generation speed (moving average)"),
    ("ttft_seconds", "Measured dispatch to first token (moving average)"),
    ("active_jobs", "Jobs running on the node now"),
)


def _values(node: NodeState) -> tuple[float, ...]:
    return (
        node.jobs_done,
        node.cache_routed,
        node.tokens_per_s,
        node.ttft_s,
        len(node.active_jobs),
    )


class NodeSeries(Collector):
    def __init__(self) -> None:
        self.registry: NodeRegistry | None = None

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        families = [
            GaugeMetricFamily(f"infernet_node_{name}", text, labels=["node"])
            for name, text in SERIES
        ]
        if self.registry is not None:
            now, offline_after = time.monotonic(), self.registry.offline_after_s
            for node in self.registry.all():
                if node.jobs_done or node.online(now, offline_after):
                    for family, value in zip(families, _values(node), strict=True):
                        family.add_metric([node.node_id], value)
        yield from families
