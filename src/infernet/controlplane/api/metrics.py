"""`GET /metrics`: the control plane's Prometheus metrics (controlplane/web/metrics.py).

Counts, histograms and gauges: no job content, no keys, and no ids but node ids (the
per-node series: jobs, speed, earnings, GPU utilization, for Grafana). It is open like
`/healthz` unless the control plane has a metrics token (`cp serve --metrics-token`):
then a scrape must send `Authorization: Bearer <token>` (Prometheus: `authorization`
in the scrape config).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from infernet.controlplane.errors import Unauthorized
from infernet.controlplane.services import Services
from infernet.controlplane.web.metrics import ControlPlaneMetrics

router = APIRouter(tags=["meta"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    services: Services = request.app.state.services
    token = services.settings.metrics_token
    sent = request.headers.get("authorization", "").encode()
    if token and not hmac.compare_digest(sent, f"Bearer {token}".encode()):
        raise Unauthorized(
            "This control plane's /metrics needs its metrics token: send "
            "`Authorization: Bearer <token>` (the value of `cp serve --metrics-token`)."
        )
    registry: ControlPlaneMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
