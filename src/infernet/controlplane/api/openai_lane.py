"""The relay's hot path below FastAPI: `POST /v1/chat/completions` and `/v1/completions`.

Every relayed request used to pass FastAPI's route matching, dependency solving and body
parsing, and its stream Starlette's `StreamingResponse`, which runs a task group to watch
for the client leaving: about a sixth of the control plane's CPU per relayed job
(1.85–1.97 → 1.57–1.61 ms at concurrency 32, `python -m bench.relay_cpu`;
docs/benchmarks.md, run 10). The lane, an ASGI middleware, does the same steps directly,
in the order FastAPI does them:

1. the body is read (a body over the size limit stops there: 413), parsed as JSON when
   the content type says JSON (FastAPI's strict content type), else left as bytes;
2. the caller is authenticated and counted against its key's limits (the very
   dependencies the routes declare, `authenticated_caller` and `limited_caller`);
3. the body is validated against the route's request model;
4. the route's own endpoint function runs (api/openai.py), and what it returns is
   written: a model as JSON, a `StreamingResponse` through `write_stream`.

Errors are answered by the handlers FastAPI would pick (`errors.error_for`). The routes
stay declared on the app: the OpenAPI document describes them, and `scope["route"]` is
the declared route, so `/metrics` labels requests as before.
"""

from __future__ import annotations

import asyncio
import email.message
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from infernet.controlplane.api import openai
from infernet.controlplane.api.deps import Caller, authenticated_caller, limited_caller
from infernet.controlplane.errors import BadRequest, describe_errors, error_for
from infernet.controlplane.jobs.openai_sse import LastEvents
from infernet.controlplane.schemas.openai import ChatCompletionRequest, CompletionRequest
from infernet.controlplane.services import Services

Endpoint = Callable[[Any, Caller, Services, Response], Awaitable[BaseModel | StreamingResponse]]


@dataclass(frozen=True)
class LaneRoute:
    declared: APIRoute  # for the OpenAPI document and `scope["route"]`
    body: type[BaseModel]
    endpoint: Endpoint


def _lane(body: type[BaseModel], endpoint: Endpoint) -> tuple[str, LaneRoute]:
    declared = next(
        r for r in openai.router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint
    )
    return declared.path, LaneRoute(declared, body, endpoint)


ROUTES = dict(
    [
        _lane(ChatCompletionRequest, openai.chat_completions),
        _lane(CompletionRequest, openai.completions),
    ]
)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False  # FastAPI's strict content type: no header, no JSON
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def read_body(request: Request) -> object:
    """The request's body as FastAPI hands it to validation; BadRequest when it claims
    JSON and is not."""
    raw = await request.body()
    if not raw:
        return None
    if not _is_json(request.headers.get("content-type")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        invalid = {"type": "json_invalid", "loc": ("body", exc.pos), "ctx": {"error": exc.msg}}
        raise BadRequest(describe_errors([invalid])) from exc
    except UnicodeDecodeError as exc:
        raise BadRequest("body: not UTF-8 text; send a JSON object") from exc


def validated(model: type[BaseModel], body: object) -> BaseModel:
    if body is None:
        raise BadRequest("body: Field required")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(describe_errors(exc.errors())) from exc


async def write_stream(response: StreamingResponse, receive: Receive, send: Send) -> None:
    """Write `response` as it comes; a client that leaves stops it (its events' generator
    is closed) without a task group: one watcher task cancels this one."""
    writer = asyncio.current_task()
    assert writer is not None
    state = {"writing": True, "left": False}

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            continue
        if state["writing"]:
            state["left"] = True
            writer.cancel()

    watcher = asyncio.create_task(watch())
    try:
        start = {"type": "http.response.start", "status": response.status_code}
        await send({**start, "headers": response.raw_headers})
        more = True
        async for chunk in response.body_iterator:
            body = chunk if isinstance(chunk, bytes) else str(chunk).encode()
            if isinstance(chunk, LastEvents):
                state["writing"] = more = False
            await send({"type": "http.response.body", "body": body, "more_body": more})
        state["writing"] = False
        if more:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not state["left"]:
            raise
        writer.uncancel()  # the client left: nothing more to write, not an error
    finally:
        state["writing"] = False
        watcher.cancel()


def _json_response(model: BaseModel, headers: Response) -> Response:
    answer = Response(model.model_dump_json(), media_type="application/json")
    for name, value in headers.headers.items():
        if name != "content-length":
            answer.headers[name] = value
    return answer


class OpenAILane:
    """ASGI middleware serving `ROUTES` itself; every other request goes on to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if lane is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = lane.declared
        request = Request(scope, receive)
        answer: Response | None
        try:
            answer = await self._answer(lane, request)
        except Exception as exc:
            if (answer := error_for(request, exc)) is None:
                raise
        if isinstance(answer, StreamingResponse):
            await write_stream(answer, receive, send)
        else:
            await answer(scope, receive, send)

    async def _answer(self, lane: LaneRoute, request: Request) -> Response:
        app = request.scope["app"]
        services: Services = app.state.services
        body = await read_body(request)
        caller = await authenticated_caller(request, services)
        caller = await limited_caller(request, caller, app.state.rate_limiter)
        headers = Response()  # what the endpoint sets on its response (X-Infernet-Job-Id)
        result = await lane.endpoint(validated(lane.body, body), caller, services, headers)
        return result if isinstance(result, StreamingResponse) else _json_response(result, headers)
