"""Client jobs API (Book §5.2–5.7): submit, read, list, stream."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from infernet.controlplane.api.checks import check_job_request
from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.api.docs import ResponsesDoc, errors
from infernet.controlplane.errors import BadRequest, NotFound
from infernet.controlplane.jobs.manager import JobManager
from infernet.controlplane.jobs.sse import JOB_HEADER, entry_events, sse_response
from infernet.controlplane.schemas.errors import ErrorEnvelope
from infernet.controlplane.schemas.jobs import (
    JobCreate,
    JobList,
    JobPublic,
    JobResult,
    JobStatus,
    ProvenancePublic,
    RoutingPublic,
    UsagePublic,
)
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store import receipts as receipt_store
from infernet.controlplane.store.ids import iso
from infernet.controlplane.store.jobs import JobRecord

router = APIRouter(prefix="/api/v1", tags=["jobs"])


EXPIRED_DOC: ResponsesDoc = {
    410: {
        "model": ErrorEnvelope,
        "description": "Resume no longer possible: the job ended too long ago; "
        "GET /api/v1/jobs/{job_id} has its whole result",
    }
}


def job_public(job: JobRecord, manager: JobManager | None = None) -> JobPublic:
    result = None
    if job.status == "completed":
        prompt, completion = job.prompt_tokens or 0, job.completion_tokens or 0
        result = JobResult(
            content=job.content or "",
            usage=UsagePublic(
                prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
            ),
        )
    return JobPublic(
        id=job.id,
        status=job.status,
        model=job.model,
        created_at=iso(job.created_at) or "",
        node_id=job.node_id,
        started_at=iso(job.started_at),
        completed_at=iso(job.completed_at),
        latency_ms=round(job.latency_ms) if job.latency_ms is not None else None,
        result=result,
        error=job.error,
        error_message=job.error_message,
        queue_position=manager.queue_position(job.id) if manager else None,
        provenance=ProvenancePublic.model_validate(job.provenance) if job.provenance else None,
        routing=RoutingPublic.model_validate(job.routing) if job.routing else None,
    )


async def _owned_job(services: ServicesDep, account: str, job_id: str) -> JobRecord:
    job = await job_store.get(services.db, job_id)
    if job is None or job.account_id != account:  # others' jobs do not exist for you
        raise NotFound(f"No job {job_id} in your account.")
    return job


@router.post(
    "/jobs",
    response_model=JobPublic,
    status_code=202,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "SSE, with stream: true; the job's id is in the "
            "X-Infernet-Job-Id header and in the first event's job_id",
        },
        **errors(400, 401, 402, 404, 413, 429, 503),
    },
)
async def submit_job(
    body: JobCreate, account: AccountDep, services: ServicesDep
) -> JobPublic | StreamingResponse:
    """Submit a chat job. With `stream: true` the answer is the job's SSE stream."""
    check_job_request(body, services.settings)
    job = await services.jobs.submit(account, body)
    if body.stream:  # the job's id in a header and in the first event (jobs/sse.py)
        entries = job.stream.entries(0, services.settings.sse_keepalive_s)
        response = sse_response(entry_events(entries, job.id))
        response.headers[JOB_HEADER] = job.id
        return response
    record = await job_store.get(services.db, job.id)
    assert record is not None
    return job_public(record, services.jobs)


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=errors(401, 404, 429))
async def get_job(job_id: str, account: AccountDep, services: ServicesDep) -> JobPublic:
    job = job_public(await _owned_job(services, account, job_id), services.jobs)
    receipts = await receipt_store.receipts_for_job(services.db, job_id)
    return job.model_copy(update={"receipt_ids": [r.receipt.id for r in receipts]})


@router.get("/jobs", response_model=JobList, responses=errors(400, 401, 429))
async def list_jobs(
    account: AccountDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    status: JobStatus | None = None,
    since: datetime | None = None,
) -> JobList:
    found = await job_store.for_account(
        services.db, account, limit=limit, status=status, since=since
    )
    return JobList(jobs=[job_public(job, services.jobs) for job in found])


_EVENT_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only: "²".isdigit() is True too


def _last_event_id(value: str) -> int:
    if value == "":
        return 0
    if not _EVENT_ID.fullmatch(value):
        raise BadRequest(f"Last-Event-ID: {value[:40]!r} is not an event id of this stream.")
    return int(value)


@router.get(
    "/jobs/{job_id}/stream",
    responses={
        200: {"content": {"text/event-stream": {}}},
        **errors(401, 404, 429),
        **EXPIRED_DOC,
    },
)
async def stream_job(
    job_id: str,
    account: AccountDep,
    services: ServicesDep,
    last_event_id: Annotated[
        str,
        Header(
            alias="Last-Event-ID",
            description="The id of the last event received: the stream resumes after it",
            json_schema_extra={"format": "event-id"},
        ),
    ] = "",
) -> StreamingResponse:
    """The job's tokens as SSE; opened late, it replays from the first token. Every event
    has an `id:`; reconnecting with `Last-Event-ID` (from any replica) sends the rest,
    for 10 minutes after the job ended; later such a resume answers 410 `stream_expired`."""
    after = _last_event_id(last_event_id)
    job = await _owned_job(services, account, job_id)
    return sse_response(entry_events(await services.jobs.open_stream(job, after)))
