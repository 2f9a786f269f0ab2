"""`GET /metrics`: Prometheus text with jobs, tokens, latency, queue, nodes, heartbeats, HTTP."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from infernet.controlplane.app import create_app
from infernet.controlplane.settings import Settings
from infernet.controlplane.web.metrics import ControlPlaneMetrics
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(harness: Harness) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with harness.client(api_key="") as api:
        response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_a_completed_job_shows_in_counts_tokens_and_histograms(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        await harness.add_node(ScriptedBackend(["m:1b"]))
        async with harness.client() as api:
            reply = await api.post(
                "/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES, "stream": True}
            )
            assert "[DONE]" in reply.text
        found = await scrape(harness)
    assert value(found, "infernet_jobs_total", status="submitted") == 1
    assert value(found, "infernet_jobs_total", status="completed") == 1
    assert value(found, "infernet_job_tokens_total", direction="out") == 5
    assert value(found, "infernet_job_tokens_total", direction="in") == 6
    assert value(found, "infernet_job_latency_seconds_count") == 1
    assert value(found, "infernet_job_ttft_seconds_count") == 1
    assert value(found, "infernet_nodes", state="online") == 1
    assert value(found, "infernet_jobs_waiting") == 0
    assert value(found, "infernet_heartbeats_total") >= 1
    jobs_route = value(
        found, "infernet_http_requests_total", method="POST", route="/api/v1/jobs", status="200"
    )
    assert jobs_route == 1


async def test_failed_jobs_are_counted_by_error(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        await harness.add_node(ScriptedBackend(["m:1b"], fail_after=0))
        async with harness.client() as api:
            await api.post(
                "/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES, "stream": True}
            )
        found = await scrape(harness)
    assert value(found, "infernet_jobs_total", status="failed") == 1
    assert value(found, "infernet_job_errors_total", error="backend_unavailable") == 1


async def test_http_routes_are_labelled_by_template_not_by_id(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        async with harness.client() as api:
            await api.get("/api/v1/jobs/job_does_not_exist")
            await api.get("/api/v1/jobs/job_nor_this_one")
        found = await scrape(harness)
    route = "/api/v1/jobs/{job_id}"
    assert (
        value(found, "infernet_http_requests_total", method="GET", route=route, status="404") == 2
    )


def test_each_app_has_its_own_registry() -> None:
    first, second = create_app(), create_app()
    assert isinstance(first.state.metrics, ControlPlaneMetrics)
    assert first.state.metrics.registry is not second.state.metrics.registry


def test_usage_that_is_not_a_count_is_never_raised_on() -> None:
    """Metrics count checked usage; a bad value slipping through is skipped, not raised
    (a raise here once left a job completed but never billed)."""
    from infernet.controlplane.jobs.live import LiveJob
    from infernet.controlplane.schemas.jobs import JobCreate
    from infernet.protocol.wire import UsageReport

    metrics = ControlPlaneMetrics()
    request = JobCreate(model="m", messages=[{"role": "user", "content": "x"}])
    job = LiveJob("job_x", "acct", "m", request, 0.0)
    for bad in (-5, 1.5, 10**30, None):
        job.usage = UsageReport.model_construct(prompt_tokens=bad, completion_tokens=bad)
        metrics.completed(job)
    found = samples(metrics.render().decode())
    assert value(found, "infernet_job_tokens_total", direction="in") == float(10**30)


async def test_with_a_metrics_token_a_scrape_without_it_is_refused(tmp_path: Path) -> None:
    token = Settings(metrics_token="s3cret")
    async with running(tmp_path, token) as harness, harness.client(api_key="") as api:
        refused = await api.get("/metrics")
        wrong = await api.get("/metrics", headers={"Authorization": "Bearer guess"})
        allowed = await api.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert refused.status_code == wrong.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert "--metrics-token" in refused.json()["error_message"]
    assert allowed.status_code == 200 and "infernet_jobs_total" in allowed.text
