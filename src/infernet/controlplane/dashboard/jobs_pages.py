"""Recent jobs (the last 20 the viewer submitted or the viewer's nodes ran: status, model,
node, tokens, latency, cost) updating live, and a job's page with its receipts (CPRs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import or_, select

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.dashboard.live import Fragments, fragment_events, live_response
from infernet.controlplane.dashboard.render import fragment, page
from infernet.controlplane.dashboard.session import Viewer, ViewerDep
from infernet.controlplane.services import Services
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store import receipts as receipt_store
from infernet.controlplane.store.tables import jobs, nodes
from infernet.protocol.money import show, usdc
from infernet.protocol.receipts import canonical_hash

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
RECENT = 20
Row = Mapping[str, Any]


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


async def recent_rows(services: Services, viewer: Viewer) -> list[Mapping[str, Any]]:
    owned = select(nodes.c.id).where(nodes.c.account_id == viewer.account_id)
    query = (
        select(jobs)
        .where(or_(jobs.c.account_id == viewer.account_id, jobs.c.node_id.in_(owned)))
        .order_by(jobs.c.created_at.desc())
        .limit(RECENT)
    )
    async with services.db.connect() as conn:
        return [cast(Row, row._mapping) for row in (await conn.execute(query)).all()]


async def _cost(services: Services, job_id: str) -> str | None:
    if services.payments is None:
        return None
    found = await receipt_store.receipts_for_job(services.db, job_id)
    if not found:
        return None
    return show(sum((usdc(r.receipt.value_usdc) for r in found), Decimal(0)))


async def recent_jobs(services: Services, viewer: Viewer) -> list[JobRow]:
    result = []
    for row in await recent_rows(services, viewer):
        tokens = row["completion_tokens"]
        result.append(
            JobRow(
                id=row["id"],
                status=row["status"],
                model=row["model"],
                node_id=row["node_id"],
                tokens=None if tokens is None else int(tokens) + int(row["prompt_tokens"] or 0),
                latency_ms=row["latency_ms"],
                cost=await _cost(services, row["id"]),
                created_at=row["created_at"],
                mine=row["account_id"] == viewer.account_id,
                error_message=row["error_message"],
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


async def _visible_job(services: Services, viewer: Viewer, job_id: str) -> Mapping[str, Any] | None:
    row = await job_store.get_job(services.db, job_id)
    if row is None:
        return None
    if row["account_id"] == viewer.account_id:
        return row
    if row["node_id"]:
        async with services.db.connect() as conn:
            owner = (
                await conn.execute(select(nodes.c.account_id).where(nodes.c.id == row["node_id"]))
            ).scalar()
        if owner == viewer.account_id:
            return row
    return None


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
