"""Recent jobs (the last 20 the viewer submitted or the viewer's nodes ran: status, model,
node, tokens, latency, cost) updating live, and a job's page with its receipts (CPRs)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.dashboard.live import Fragments, fragment_events, live_response
from infernet.controlplane.dashboard.render import fragment, page
from infernet.controlplane.dashboard.session import Viewer, ViewerDep
from infernet.controlplane.services import Services
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store import receipts as receipt_store
from infernet.controlplane.store.jobs import JobRecord
from infernet.protocol.money import show, usdc
from infernet.protocol.receipts import canonical_hash

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
RECENT = 20


@dataclass(frozen=True, slots=True)
class JobRow:
    id: str
    status: str
    model: str
    node_id: str | None
    tokens: int | None
    latency_ms: float | None
    cost: str | None  # None: payments off, or nothing receipted (yet)
    created_at: Any
    mine: bool  # submitted by the viewer (else: run by the viewer's node)
    error_message: str | None


async def _cost(services: Services, job_id: str) -> str | None:
    if services.payments is None:
        return None
    found = await receipt_store.receipts_for_job(services.db, job_id)
    if not found:
        return None
    return show(sum((usdc(r.receipt.value_usdc) for r in found), Decimal(0)))


async def recent_jobs(services: Services, viewer: Viewer) -> list[JobRow]:
    result = []
    for job in await job_store.seen_by(services.db, viewer.account_id, limit=RECENT):
        tokens = job.completion_tokens
        result.append(
            JobRow(
                id=job.id,
                status=job.status,
                model=job.model,
                node_id=job.node_id,
                tokens=None if tokens is None else tokens + (job.prompt_tokens or 0),
                latency_ms=job.latency_ms,
                cost=await _cost(services, job.id),
                created_at=job.created_at,
                mine=job.account_id == viewer.account_id,
                error_message=job.error_message,
            )
        )
    return result


@router.get("/jobs")
async def jobs_page(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    rows = await recent_jobs(services, viewer)
    return page(
        request,
        "jobs.html",
        viewer=viewer,
        nav="jobs",
        jobs=rows,
        payments=services.payments is not None,
    )


@router.get("/live/jobs")
async def jobs_live(viewer: ViewerDep, services: ServicesDep) -> Response:
    async def render() -> Fragments:
        rows = await recent_jobs(services, viewer)
        payments = services.payments is not None
        return {"jobs-table": fragment("_jobs_table.html", jobs=rows, payments=payments)}

    return live_response(fragment_events(services, render, ("jobs",)))


async def _visible_job(services: Services, viewer: Viewer, job_id: str) -> JobRecord | None:
    """The job, if the viewer submitted it or one of the viewer's nodes ran it."""
    job = await job_store.get(services.db, job_id)
    if job is None:
        return None
    if job.account_id == viewer.account_id:
        return job
    node = await node_store.node_by_id(services.db, job.node_id) if job.node_id else None
    return job if node is not None and node["account_id"] == viewer.account_id else None


@router.get("/jobs/{job_id}")
async def job_page(
    request: Request, job_id: str, viewer: ViewerDep, services: ServicesDep
) -> Response:
    row = await _visible_job(services, viewer, job_id)
    if row is None:
        return page(
            request,
            "not_found.html",
            status_code=404,
            viewer=viewer,
            nav="jobs",
            what=f"No job {job_id} that you submitted or your nodes ran.",
        )
    found = await receipt_store.receipts_for_job(services.db, job_id)
    receipts = [(r, canonical_hash(r.receipt).hex()) for r in found]
    platform = services.payments.platform_key.public_hex if services.payments else None
    return page(
        request,
        "job.html",
        viewer=viewer,
        nav="jobs",
        job=row,
        receipts=receipts,
        platform_pubkey=platform,
        payments=services.payments is not None,
        cost=await _cost(services, job_id),
    )
