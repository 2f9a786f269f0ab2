"""The node's own Prometheus metrics, served on 127.0.0.1 only: `/metrics` and `/healthz`.

Counted where things happen in the daemon: every `JobDone`/`JobFailed` it sends (jobs by
outcome, tokens in and out), every heartbeat (latency histogram, outcome), the backend's
health as the last heartbeat saw it. One `CollectorRegistry` per daemon (no global
registry), so two daemons in one process (tests, `infernet up`) never mix their numbers.

The listener is a few lines of asyncio on `127.0.0.1:<metrics_port>` (config
`metrics_port`, default 9464; 0 turns it off). It is deliberately local: scrape it with
a Prometheus on the same machine, or publish it through your own reverse proxy.
`/healthz` answers 200 `{"status": "ok"}` while the daemon heartbeats within three
intervals and its backend is healthy, else 503 with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from infernet.protocol.wire import CONTEXT_LENGTH_EXCEEDED, JobDone, JobFailed

log = logging.getLogger("infernet.node")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.jobs = Counter(
            "infernet_node_jobs", "Jobs this node finished, by outcome", ["outcome"], registry=r
        )
        self.tokens = Counter(
            "infernet_node_tokens", "Tokens processed (engine counts)", ["direction"], registry=r
        )
        self.heartbeats = Counter(
            "infernet_node_heartbeats", "Heartbeats sent, by result", ["result"], registry=r
        )
        self.heartbeat_latency = Histogram(
            "infernet_node_heartbeat_latency_seconds",
            "Round trip of a heartbeat to the control plane",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.backend_healthy = Gauge(
            "infernet_node_backend_healthy", "1 when the backend answered health checks", registry=r
        )
        self.active_jobs = Gauge("infernet_node_active_jobs", "Jobs running now", registry=r)
        self.last_heartbeat = Gauge(
            "infernet_node_last_heartbeat_timestamp_seconds",
            "Unix time of the last successful heartbeat",
            registry=r,
        )
        self.backend_ok = False
        # Plain totals since start, for `infernet status` (counters are write-only).
        self.completed = 0
        self.failed = 0

    def observe_message(self, message: JobDone | JobFailed) -> None:
        if isinstance(message, JobDone):
            self.completed += 1
            self.jobs.labels("completed").inc()
            self.tokens.labels("in").inc(message.usage.prompt_tokens)
            self.tokens.labels("out").inc(message.usage.completion_tokens)
        elif isinstance(message, JobFailed) and message.error == CONTEXT_LENGTH_EXCEEDED:
            self.jobs.labels("refused").inc()  # the prompt was too long: not a failure here
        elif isinstance(message, JobFailed):
            self.failed += 1
            self.jobs.labels("failed").inc()

    def heartbeat_ok(self, latency_s: float, backend_healthy: bool) -> None:
        self.heartbeats.labels("ok").inc()
        self.heartbeat_latency.observe(latency_s)
        self.backend_healthy.set(1 if backend_healthy else 0)
        self.backend_ok = backend_healthy
        self.last_heartbeat.set(time.time())

    def heartbeat_failed(self) -> None:
        self.heartbeats.labels("failed").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str


class MetricsServer:
    """`GET /metrics` and `GET /healthz` on 127.0.0.1:`port` (port 0 in tests picks one)."""

    def __init__(self, metrics: NodeMetrics, health: Callable[[], Health], port: int) -> None:
        self._metrics, self._health, self._port = metrics, health, port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self._port)
        log.info(f"Metrics on http://127.0.0.1:{self.port}/metrics")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5.0)
            while (await asyncio.wait_for(reader.readline(), 5.0)) not in (b"\r\n", b"\n", b""):
                pass
            status, ctype, body = self._answer(request.decode("latin-1"))
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, request_line: str) -> tuple[str, str, bytes]:
        parts = request_line.split()
        if len(parts) < 2 or parts[0] != "GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        path = parts[1].split("?", 1)[0]
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, self._metrics.render()
        if path == "/healthz":
            health = self._health()
            state = {"status": "ok" if health.ok else "unhealthy", "detail": health.detail}
            code = "200 OK" if health.ok else "503 Service Unavailable"
            return code, "application/json", json.dumps(state).encode() + b"\n"

        return "404 Not Found", "text/plain", b"try /metrics or /healthz\n"


def daemon_health(
    last_heartbeat: float | None, interval_s: float, backend_healthy: bool, draining: bool
) -> Health:
    """ok while heartbeats land within three intervals and the backend is healthy."""
    if last_heartbeat is None:
        return Health(False, "no heartbeat has reached the control plane yet")
    age = time.time() - last_heartbeat
    if age > 3 * interval_s:
        return Health(False, f"last heartbeat {age:.0f}s ago")
    if not backend_healthy:
        return Health(False, "the inference backend is not healthy")
    return Health(True, "draining" if draining else f"last heartbeat {age:.0f}s ago")


async def start_metrics(
    metrics: NodeMetrics, health: Callable[[], Health], port: int
) -> MetricsServer | None:
    """The metrics listener on `port`, started; None when off (port 0 in the config) or
    when the port cannot be had (a warning says so)."""
    if not port:
        return None
    server = MetricsServer(metrics, health, port)
    try:
        await server.start()
    except OSError as exc:
        log.warning(f"Metrics listener not started on port {port}: {exc}")
        return None
    return server
