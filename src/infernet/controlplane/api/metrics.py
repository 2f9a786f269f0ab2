"""`GET /metrics`: the control plane's Prometheus metrics (controlplane/web/metrics.py).

Counts, histograms and gauges: no job content, no keys, and no ids but node ids (the
per-node series: jobs, speed, earnings, GPU utilization, for Grafana). It is served
without authentication like `/healthz`; put it behind your proxy's ACL where those
numbers are private on your network.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from infernet.controlplane.web.metrics import ControlPlaneMetrics

router = APIRouter(tags=["meta"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: ControlPlaneMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
