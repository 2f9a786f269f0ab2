"""The node's local /metrics and /healthz listener (127.0.0.1 only)."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from infernet.node.metrics import Health, MetricsServer, NodeMetrics, daemon_health
from infernet.protocol.wire import JobDone, JobFailed, UsageReport


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_jobs_tokens_and_heartbeats() -> None:
    metrics = NodeMetrics()
    metrics.observe_message(
        JobDone(job_id="j", usage=UsageReport(prompt_tokens=7, completion_tokens=5))
    )
    metrics.observe_message(JobFailed(job_id="k", error="backend_error", message="x"))
    metrics.heartbeat_ok(0.04, backend_healthy=True)
    metrics.heartbeat_failed()
    server = MetricsServer(metrics, lambda: Health(True, "fine"), port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            scraped = await http.get("/metrics")
            health = await http.get("/healthz")
            missing = await http.get("/nope")
    finally:
        await server.stop()
    found = values(scraped.text)
    assert found[("infernet_node_jobs_total", (("outcome", "completed"),))] == 1
    assert found[("infernet_node_jobs_total", (("outcome", "failed"),))] == 1
    assert found[("infernet_node_tokens_total", (("direction", "in"),))] == 7
    assert found[("infernet_node_tokens_total", (("direction", "out"),))] == 5
    assert found[("infernet_node_heartbeats_total", (("result", "failed"),))] == 1
    assert found[("infernet_node_heartbeat_latency_seconds_count", ())] == 1
    assert found[("infernet_node_backend_healthy", ())] == 1
    assert health.status_code == 200 and health.json() == {"status": "ok", "detail": "fine"}
    assert missing.status_code == 404


async def test_healthz_is_503_with_a_reason_when_unhealthy() -> None:
    server = MetricsServer(NodeMetrics(), lambda: Health(False, "no heartbeat"), port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            health = await http.get("/healthz")
    finally:
        await server.stop()
    assert health.status_code == 503
    assert health.json()["detail"] == "no heartbeat"


def test_health_follows_heartbeats_and_the_backend() -> None:
    now = time.time()
    assert not daemon_health(None, 30, True, False).ok
    assert daemon_health(now - 10, 30, True, False).ok
    assert not daemon_health(now - 100, 30, True, False).ok
    assert not daemon_health(now - 10, 30, False, False).ok
    assert daemon_health(now - 10, 30, True, True).detail == "draining"
