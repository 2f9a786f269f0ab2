"""`GET /metrics`: the control plane's Prometheus metrics (controlplane/web/metrics.py).

Aggregates only (counts, histograms, nodes by state): no job content, no ids, no keys, so
it is served without authentication like `/healthz`; put it behind your proxy's ACL if
the counts themselves are private on your network.
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
