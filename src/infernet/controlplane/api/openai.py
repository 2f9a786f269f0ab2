"""The OpenAI-compatible API under `/v1`: chat completions, completions, models.

A drop-in for OpenAI's SDKs: `base_url=<control plane>/v1`, `api_key=<Infernet API key>`.
Each request becomes an ordinary Infernet job (same routing, failover, accounting and
limits as `POST /api/v1/jobs`; its id comes back as the completion's `id` and in
`X-Infernet-Job-Id`, so `GET /api/v1/jobs/{id}` finds it). `usage` is the engine's own
token count. Errors come in OpenAI's shape (errors.py does that for every `/v1` path).

Model names go through `Settings.model_aliases` first (e.g. `gpt-4o-mini` ->
`qwen2.5:7b`); an alias whose model no node serves is a 404 that says so.

A client that disconnects stops its stream; the job itself runs to the end on its node
(and is accounted as usual), because the node is not told to cancel yet.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from infernet.controlplane.api.checks import check_job_request
from infernet.controlplane.api.deps import Caller, CallerDep, ServicesDep
from infernet.controlplane.api.docs import openai_errors
from infernet.controlplane.errors import ApiError, BadRequest, ModelNotFound, describe_errors
from infernet.controlplane.jobs import live
from infernet.controlplane.jobs.openai_sse import (
    FAILURE_STATUS,
    ChatChunks,
    Chunks,
    CompletionChunks,
    LiveJob,
    finish_reason,
    job_usage,
    openai_events,
)
from infernet.controlplane.jobs.sse import JOB_HEADER, sse_response
from infernet.controlplane.jobs.streams import StreamError
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.schemas.openai import (
    DEFAULT_MAX_TOKENS,
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    Completion,
    CompletionChoice,
    CompletionRequest,
    ModelList,
    ModelObject,
    Usage,
)
from infernet.controlplane.services import Services
from infernet.controlplane.store.catalog import registered_at
from infernet.protocol.wire import ChatMessageIn

router = APIRouter(prefix="/v1", tags=["openai"])

GENERATION_ERRORS = openai_errors(400, 401, 404, 413, 429, 502, 503, 504)
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream: true"}
}


class JobFailedError(ApiError):
    """The job failed before it could answer (non-streamed requests)."""

    def __init__(self, failure: StreamError) -> None:
        super().__init__(failure.message)
        self.code = failure.code
        self.status = FAILURE_STATUS.get(failure.code, 502)


def target_model(services: Services, requested: str) -> str:
    """The model to run for `requested`, through the configured aliases."""
    alias_of = services.settings.model_aliases.get(requested)
    if alias_of is None:
        return requested
    try:
        services.jobs.names.resolve(alias_of)
    except ModelNotFound as exc:
        served = ", ".join(services.jobs.names.served()) or "none (no node is online)"
        raise ModelNotFound(
            f"Model '{requested}' is an alias for '{alias_of}', which no online node serves. "
            f"Models served now: {served}."
        ) from exc
    return alias_of


async def submit(
    services: Services,
    caller: Caller,
    fields: dict[str, Any],
    tokens_field: str,
) -> live.LiveJob:
    """Check `fields` as a job request and submit it; nothing is created on bad input."""
    try:
        body = JobCreate.model_validate(fields)
    except ValidationError as exc:
        raise BadRequest(describe_errors(exc.errors())) from exc
    check_job_request(body, services.settings, tokens_field)
    job: live.LiveJob = await services.jobs.submit(caller.account_id, body)
    return job


def _sampling(request: ChatCompletionRequest | CompletionRequest) -> dict[str, Any]:
    return {
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "stop": request.stop_list(),
        "seed": request.seed,
        "stream": bool(request.stream),
    }


def _routing(
    services: Services, request: ChatCompletionRequest | CompletionRequest
) -> dict[str, Any]:
    """Infernet's routing extensions: the session (`user`), `provider` preferences and
    fallback `models` (through the aliases, as `model` is)."""
    return {
        "session": request.user or None,
        "provider": request.provider,
        "models": [target_model(services, m) for m in request.models or []],
    }


async def _finished(job: LiveJob) -> tuple[str, Usage]:
    """Wait for the job; its text and usage, or JobFailedError."""
    try:
        async for _ in job.stream.follow():
            pass
        return job.stream.text, job_usage(job)
    except StreamError as exc:
        raise JobFailedError(exc) from exc


def _stream(job: LiveJob, chunks: Chunks, services: Services) -> StreamingResponse:
    response = sse_response(openai_events(job, chunks, services.settings.sse_keepalive_s))
    response.headers[JOB_HEADER] = job.id
    return response


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={**STREAM_RESPONSE, **GENERATION_ERRORS},
)
async def chat_completions(
    body: ChatCompletionRequest, caller: CallerDep, services: ServicesDep, response: Response
) -> ChatCompletion | StreamingResponse:
    """OpenAI's chat completions: streamed as `chat.completion.chunk`s with `stream: true`."""
    model = target_model(services, body.model)
    max_tokens, tokens_field = body.token_limit
    messages = [
        ChatMessageIn(role="system" if m.role == "developer" else m.role, content=m.text)
        for m in body.messages
    ]
    fields = {"model": model, "messages": messages, "max_tokens": max_tokens, **_sampling(body)}
    job = await submit(services, caller, fields | _routing(services, body), tokens_field)
    model, created = job.request.model, int(time.time())  # a fallback model says so
    if body.stream:
        return _stream(job, ChatChunks(job.id, created, model, body.include_usage), services)
    text, usage = await _finished(job)
    response.headers[JOB_HEADER] = job.id
    choice = ChatChoice(message=AssistantMessage(content=text), finish_reason=finish_reason(job))
    return ChatCompletion(id=job.id, created=created, model=model, choices=[choice], usage=usage)


@router.post(
    "/completions", response_model=Completion, responses={**STREAM_RESPONSE, **GENERATION_ERRORS}
)
async def completions(
    body: CompletionRequest, caller: CallerDep, services: ServicesDep, response: Response
) -> Completion | StreamingResponse:
    """OpenAI's legacy completions. The prompt goes to the model as one user message (its
    chat template applies); streamed as `text_completion` chunks with `stream: true`."""
    model = target_model(services, body.model)
    fields = {
        "model": model,
        "messages": [ChatMessageIn(role="user", content=body.prompt_text)],
        "max_tokens": body.max_tokens or DEFAULT_MAX_TOKENS,
        **_sampling(body),
        **_routing(services, body),
    }
    job = await submit(services, caller, fields, "max_tokens")
    model, created = job.request.model, int(time.time())  # a fallback model says so
    if body.stream:
        return _stream(job, CompletionChunks(job.id, created, model, body.include_usage), services)
    text, usage = await _finished(job)
    response.headers[JOB_HEADER] = job.id
    choice = CompletionChoice(text=text, finish_reason=finish_reason(job))
    return Completion(id=job.id, created=created, model=model, choices=[choice], usage=usage)


def _unix(moment: datetime | None) -> int:
    if moment is None:
        return 0
    if moment.tzinfo is None:  # SQLite hands back naive datetimes, stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


async def _served(services: Services) -> list[ModelObject]:
    """Each model an online node serves, then each alias whose model is served; `created`
    is when the earliest node now serving it registered with this control plane."""
    # What the nodes serve is read before the database: a heartbeat that arrives during
    # the wait may change it (a model dropped meanwhile is still listed this once).
    online = [
        (
            key,
            sorted({n.served[key] for n in nodes})[0],
            max((n.contexts[key] for n in nodes if key in n.contexts), default=None),
            [n.node_id for n in nodes],
        )
        for key, nodes in sorted(services.registry.online_models().items())
    ]
    since = await registered_at(services.db, {i for *_, ids in online for i in ids})
    created: dict[str, int] = {}
    contexts: dict[str, int | None] = {}
    models: list[ModelObject] = []
    for key, name, context, node_ids in online:
        created[key] = min(_unix(since.get(i)) for i in node_ids)
        contexts[key] = context
        models.append(ModelObject(id=name, created=created[key], max_model_len=context))
    for alias, target in sorted(services.settings.model_aliases.items()):
        try:
            key = services.jobs.names.resolve(target)
        except ApiError:
            continue  # an alias of a model nobody serves now is not listed
        context = contexts.get(key)
        models.append(ModelObject(id=alias, created=created.get(key, 0), max_model_len=context))
    return models


@router.get("/models", response_model=ModelList, responses=openai_errors(401, 429))
async def list_models(_caller: CallerDep, services: ServicesDep) -> ModelList:
    """Models served by at least one online node, and the aliases that lead to them."""
    return ModelList(data=await _served(services))


@router.get(
    "/models/{model:path}", response_model=ModelObject, responses=openai_errors(401, 404, 429)
)
async def get_model(model: str, _caller: CallerDep, services: ServicesDep) -> ModelObject:
    """One served model (or alias) by its exact name."""
    for entry in await _served(services):
        if entry.id == model:
            return entry
    served = ", ".join(m.id for m in await _served(services)) or "none (no node is online)"
    raise ModelNotFound(f"No online node serves model '{model}'. Models served now: {served}.")
