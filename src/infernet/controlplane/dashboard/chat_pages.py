"""Chat: a playground that streams through the network like any client, as the signed-in
account (its balance pays, its jobs list shows the job). The page posts to
`POST /dashboard/api/chat` (session cookie, JSON body: a cross-site form cannot send it),
which submits a real job and relays the Book's SSE stream, so no API key is ever put in
the page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from infernet.controlplane.api.checks import check_job_request
from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.dashboard.live import live_response
from infernet.controlplane.dashboard.render import page
from infernet.controlplane.dashboard.session import ViewerDep
from infernet.controlplane.errors import ApiError
from infernet.controlplane.jobs.sse import entry_events
from infernet.controlplane.schemas.forms import ChatRequest
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.protocol.wire import ChatMessageIn

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


@router.get("/chat")
async def chat_page(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    return page(
        request, "chat.html", viewer=viewer, nav="chat", models=services.jobs.names.served()
    )


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_message": message}, status_code=status)


@router.post("/api/chat")
async def chat_stream(
    viewer: ViewerDep, services: ServicesDep, body: Annotated[dict[str, object], Body()]
) -> Response:
    try:
        chat = ChatRequest.model_validate(body)
        job = JobCreate(
            model=chat.model,
            max_tokens=chat.max_tokens,
            stream=True,
            messages=[ChatMessageIn.model_validate(t.model_dump()) for t in chat.messages],
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return _error(400, "bad_request", f"{where}: {first['msg']}")
    try:
        check_job_request(job, services.settings)
        live = await services.jobs.submit(viewer.account_id, job)
    except ApiError as exc:
        return _error(exc.status, exc.code, exc.message)
    services.events.publish("jobs", live.id)
    return live_response(entry_events(live.stream.entries(0, services.settings.sse_keepalive_s)))
