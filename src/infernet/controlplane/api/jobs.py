"""Client jobs API (Book §5.2–5.7): submit, read, list, stream."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from infernet.controlplane.api.checks import check_job_request
from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.api.docs import ErrorEnvelope, ResponsesDoc, errors
from infernet.controlplane.bus.base import follow
from infernet.controlplane.errors import BadRequest, NotFound, StreamExpired
from infernet.controlplane.jobs.failover import STREAM_RETENTION_S
from infernet.controlplane.jobs.manager import JobManager
from infernet.controlplane.jobs.sse import book_events, entry_events, event, sse_response
from infernet.controlplane.jobs.streams import JobStream
from infernet.controlplane.schemas.jobs import (
    JobCreate,
    JobList,
    JobPublic,
    JobResult,
    JobStatus,
    ProvenancePublic,
    UsagePublic,
)
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store import receipts as receipt_store
from infernet.controlplane.store.ids import iso

router = APIRouter(prefix="/api/v1", tags=["jobs"])


EXPIRED_DOC: ResponsesDoc = {
    410: {
        "model": ErrorEnvelope,
        "description": "Resume no longer possible: the job ended too long ago; "
        "GET /api/v1/jobs/{job_id} has its whole result",
    }
}


def job_public(row: Mapping[str, Any], manager: JobManager | None = None) -> JobPublic:
    result = None
    if row["status"] == "completed":
        prompt, completion = int(row["prompt_tokens"]), int(row["completion_tokens"])
        result = JobResult(
            content=row["content"] or "",
            usage=UsagePublic(
                prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
            ),
        )
    return JobPublic(
        id=row["id"],
        status=row["status"],
        model=row["model"],
        created_at=iso(row["created_at"]) or "",
        node_id=row["node_id"],
        started_at=iso(row["started_at"]),
        completed_at=iso(row["completed_at"]),
        latency_ms=round(row["latency_ms"]) if row["latency_ms"] is not None else None,
        result=result,
        error=row["error"],
        error_message=row["error_message"],
        queue_position=manager.queue_position(row["id"]) if manager else None,
        provenance=ProvenancePublic.model_validate(row["provenance"])
        if row.get("provenance")
        else None,
    )


async def _owned_job(services: ServicesDep, account: str, job_id: str) -> Mapping[str, Any]:
    row = await job_store.get_job(services.db, job_id)
    if row is None or row["account_id"] != account:  # others' jobs do not exist for you
        raise NotFound(f"No job {job_id} in your account.")
    return row


@router.post(
    "/jobs",
    response_model=JobPublic,
    status_code=202,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "SSE, with stream: true"},
        **errors(400, 401, 404, 413, 429, 503),
    },
)
async def submit_job(
    body: JobCreate, account: AccountDep, services: ServicesDep
) -> JobPublic | StreamingResponse:
    """Submit a chat job. With `stream: true` the answer is the job's SSE stream."""
    check_job_request(body, services.settings)
    job = await services.jobs.submit(account, body)
    if body.stream:
        return sse_response(book_events(job.stream, services.settings.sse_keepalive_s))
    row = await job_store.get_job(services.db, job.id)
    assert row is not None
    return job_public(row, services.jobs)


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
    rows = await job_store.list_jobs(services.db, account, limit=limit, status=status, since=since)
    return JobList(jobs=[job_public(row, services.jobs) for row in rows])


def _expired(job_id: str) -> StreamExpired:
    return StreamExpired(
        f"Job {job_id} ended too long ago to resume its stream after an event id (its "
        f"pieces are kept {STREAM_RETENTION_S / 60:.0f} minutes); GET /api/v1/jobs/{job_id} "
        "for the whole result, or open the stream without Last-Event-ID to get it as one event."
    )


async def _replay_finished(row: Mapping[str, Any]) -> Any:
    """A job whose stream is no longer kept, read from the start: its whole text as
    event 1, then the end (a resume after an event id is refused: `_expired`)."""
    if row["status"] == "completed":
        if row["content"]:
            yield "id: 1\n" + event({"text": row["content"]})
        yield "id: 2\ndata: [DONE]\n\n"
    else:
        yield "id: 1\n" + event({"error": row["error"], "message": row["error_message"]})


def _last_event_id(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit():
        raise BadRequest(f"Last-Event-ID: '{value[:40]}' is not an event id of this stream.")
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
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """The job's tokens as SSE; opened late, it replays from the first token. Every event
    has an `id:`; reconnecting with `Last-Event-ID` (from any replica) sends the rest,
    for 10 minutes after the job ended; later such a resume answers 410 `stream_expired`."""
    after = _last_event_id(last_event_id)
    row = await _owned_job(services, account, job_id)
    live = services.jobs.live(job_id)
    stream: JobStream | None = (
        live.stream if live else services.jobs.archive.replay(job_id, row["content"])
    )  # a finished job's stream is replayed, numbered as streamed, from its stored text
    keepalive = services.settings.sse_keepalive_s
    if stream is not None:
        return sse_response(book_events(stream, keepalive, after))
    cluster = services.jobs.cluster
    if cluster.shared and (
        row["status"] in ("pending", "processing") or await cluster.bus.tokens.last_seq(job_id)
    ):  # running on (or recently finished by) another replica: read the shared stream
        return sse_response(entry_events(follow(cluster.bus.tokens, job_id, after, keepalive)))
    if after >= 1:  # which events the client saw can no longer be told: no guessing
        raise _expired(job_id)
    return sse_response(_replay_finished(row))
