"""The control plane's Prometheus metrics (`GET /metrics`, text format 0.0.4).

One `CollectorRegistry` per app (never the process-global one), so two control planes in
one process (tests) keep separate numbers. What is counted, and where:

* jobs: `infernet_jobs_total{status}` for submitted / started (each attempt) / completed /
  failed, counted by `JobManager` at those transitions through the `JobEvents` hooks;
  `infernet_job_tokens_total{direction="in"|"out"}` from the nodes' usage as checked
  (jobs/claims.py; a value that is not a positive count is skipped, never raised on);
  `infernet_job_latency_seconds` (submit -> completed) and
  `infernet_job_ttft_seconds` (submit -> first token relayed) histograms.
* queue and nodes, read at scrape time: `infernet_jobs_waiting`, `infernet_jobs_running`,
  `infernet_nodes{state="online"|"degraded"|"offline"|"draining"}`.
* HTTP: `infernet_http_requests_total{method,route,status}` by route *template* (so job ids
  do not explode the label set), and `infernet_heartbeats_total` (accepted heartbeats),
  both from an ASGI middleware.
* per model (its routing key): `infernet_model_jobs_completed_total{model}`,
  `infernet_model_completion_tokens_total{model}` and the histogram
  `infernet_model_ttft_seconds{model}`; at most `MAX_MODEL_LABELS` models get their own
  label (nodes name the models they serve, so the set is theirs), the rest are `other`.
* per node (jobs, cache-routed jobs, tokens/s, TTFT, active jobs, completion tokens,
  earnings, GPU utilization): node_metrics.py.
* settlement (deposits, payouts, reconciliation differences): settlement_metrics.py.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.streams import StreamError
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.nodes.samples import GpuSamples
from infernet.controlplane.web.node_metrics import NodeSeries
from infernet.controlplane.web.settlement_metrics import SettlementMetrics

HEARTBEAT_ROUTE = "/api/v1/heartbeat"
MAX_MODEL_LABELS = 100
_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _LiveState(Collector):
    """Queue depth and nodes by state, computed when Prometheus scrapes."""

    def __init__(self) -> None:
        self.registry: NodeRegistry | None = None
        self.stats: Callable[[], Mapping[str, Any]] = dict

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        nodes = GaugeMetricFamily("infernet_nodes", "Known nodes by state", labels=["state"])
        counts: Tally[str] = Tally({"online": 0, "degraded": 0, "offline": 0, "draining": 0})
        if self.registry is not None:
            now = time.monotonic()
            for node in self.registry.all():
                state = node.status(now, self.registry.offline_after_s)
                counts["draining" if node.draining and state != "offline" else state] += 1
        for state, count in sorted(counts.items()):
            nodes.add_metric([state], count)
        yield nodes
        stats = self.stats()
        waiting, running = int(stats.get("waiting", 0)), int(stats.get("running", 0))
        yield GaugeMetricFamily("infernet_jobs_waiting", "Jobs waiting for a node", value=waiting)
        yield GaugeMetricFamily("infernet_jobs_running", "Jobs running on a node", value=running)


class ControlPlaneMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Counter("infernet_jobs", "Job transitions", ["status"], registry=r)
        self.job_errors = Counter(
            "infernet_job_errors", "Failed jobs by error", ["error"], registry=r
        )
        self.tokens = Counter(
            "infernet_job_tokens", "Tokens (node usage)", ["direction"], registry=r
        )
        self.latency = Histogram(
            "infernet_job_latency_seconds", "Submit to completed", buckets=_SECONDS, registry=r
        )
        self.ttft = Histogram(
            "infernet_job_ttft_seconds", "Submit to first token", buckets=_SECONDS, registry=r
        )
        by_model = ["model"]
        self.model_jobs = Counter(
            "infernet_model_jobs_completed", "Jobs completed per model", by_model, registry=r
        )
        self.model_tokens = Counter(
            "infernet_model_completion_tokens", "Completion tokens per model", by_model, registry=r
        )
        self.model_ttft = Histogram(
            "infernet_model_ttft_seconds",
            "Submit to first token",
            by_model,
            buckets=_SECONDS,
            registry=r,
        )
        self._models: set[str] = set()
        self.heartbeats = Counter("infernet_heartbeats", "Heartbeats accepted", registry=r)
        self.http = Counter(
            "infernet_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.settlement = SettlementMetrics(r)  # settlement_metrics.py
        self._live, self._nodes = _LiveState(), NodeSeries()  # node_metrics.py: per node
        r.register(self._live)
        r.register(self._nodes)
        self._watchers: set[asyncio.Task[None]] = set()

    def bind(
        self,
        registry: NodeRegistry,
        stats: Callable[[], Mapping[str, Any]],
        samples: GpuSamples | None = None,
    ) -> None:
        """Attach the live state read at scrape time (`JobManager.stats`, the registry,
        the nodes' GPU samples)."""
        self._live.registry, self._live.stats = registry, stats
        self._nodes.registry, self._nodes.samples = registry, samples

    def _model(self, key: str) -> str:
        """The label for routing key `key`: itself, or `other` past the first
        `MAX_MODEL_LABELS` keys seen (the label set stays bounded)."""
        if key in self._models or len(self._models) < MAX_MODEL_LABELS:
            self._models.add(key)
            return key
        return "other"

    # --- JobEvents -------------------------------------------------------------------

    def submitted(self, job: LiveJob) -> None:
        self.jobs.labels("submitted").inc()
        watcher = asyncio.get_running_loop().create_task(self._first_token(job))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    def started(self, job: LiveJob) -> None:
        self.jobs.labels("started").inc()

    def completed(self, job: LiveJob) -> None:
        self.jobs.labels("completed").inc()
        self.latency.observe(time.monotonic() - job.submitted)
        model = self._model(job.key)
        self.model_jobs.labels(model).inc()
        if job.usage is not None:  # the checked totals (JobManager._finish)
            _count(self.tokens.labels("in"), job.usage.prompt_tokens)
            _count(self.tokens.labels("out"), job.usage.completion_tokens)
            _count(self.model_tokens.labels(model), job.usage.completion_tokens)

    def failed(self, job: LiveJob, code: str) -> None:
        self.jobs.labels("failed").inc()
        self.job_errors.labels(code).inc()

    async def _first_token(self, job: LiveJob) -> None:
        try:
            async for piece in job.stream.follow():
                if piece:
                    seconds = time.monotonic() - job.submitted
                    self.ttft.observe(seconds)
                    self.model_ttft.labels(self._model(job.key)).observe(seconds)
                    return
        except StreamError:
            return

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _count(counter: Counter, value: object) -> None:
    """Add `value` when it is a positive count: a bad value is not counted, never raised."""
    if type(value) is int and value > 0:
        counter.inc(value)


class HttpMetrics:
    """ASGI middleware: count each HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: ControlPlaneMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.http.labels(scope["method"], route, str(status)).inc()
            if route == HEARTBEAT_ROUTE and status < 400:
                self.metrics.heartbeats.inc()
