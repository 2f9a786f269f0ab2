"""Streaming chat against any OpenAI-compatible engine (llama.cpp, vLLM, SGLang, MAX).

One implementation of `POST /v1/chat/completions` with `stream: true`: it parses the SSE
chunks at the edge into `TokenDelta` / `Finish` and maps transport failures onto
`infernet.backends.errors`. Engines that honour `stream_options.include_usage` (all four
do in their current releases) put real usage on the last chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from pydantic_core import from_json

from infernet.backends import sse_http
from infernet.backends.base import Finish, GenerationEvent, GenerationRequest, TokenDelta, Usage
from infernet.backends.context import context_error
from infernet.backends.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    ModelNotLoaded,
)
from infernet.httperrors import describe


@contextmanager
def mapped_http_errors(host: str, *, engine: str = "the engine", hint: str = "") -> Iterator[None]:
    """Translate httpx failures into backend errors with a sentence a user can act on;
    `hint` (how to start this engine) follows when the engine cannot be reached."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise BackendTimeout(f"{engine} at {host} stopped answering ({describe(exc)})") from exc
    except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
        reason = f"cannot reach {engine} at {host}: {describe(exc)}."
        raise BackendUnavailable(f"{reason} {hint}".strip()) from exc


def chat_payload(request: GenerationRequest, *, served_name: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": served_name or request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.messages and request.messages[-1].role == "assistant":
        # Continue the assistant's partial answer (failover) instead of starting a new
        # turn: vLLM and SGLang need these flags; llama-server continues such a message
        # by itself and ignores them.
        payload["continue_final_message"] = True
        payload["add_generation_prompt"] = False
    if request.stop:
        payload["stop"] = list(request.stop)
    if request.seed is not None:
        payload["seed"] = request.seed
    return payload


def engine_status_error(status: int, body: str, model: str) -> BackendError | None:
    """The backend error an engine's HTTP status stands for (None below 400)."""
    if status < 400:
        return None
    if (refused := context_error(body)) is not None:
        return refused  # the prompt does not fit: the request's fault, whatever the status
    body = body[:500]
    if status == 404 or ("not found" in body.lower() and "model" in body.lower()):
        return ModelNotLoaded(f"the engine does not serve model {model!r}: {body}")
    if status >= 500:
        return BackendUnavailable(f"the engine failed with HTTP {status}: {body}")
    return BackendError(f"the engine refused the request (HTTP {status}): {body}")


async def raise_for_engine_status(response: httpx.Response, model: str) -> None:
    if response.status_code < 400:
        return
    body = (await response.aread()).decode("utf-8", "replace")
    if (error := engine_status_error(response.status_code, body, model)) is not None:
        raise error


def parse_sse_chunk(line: str) -> dict[str, Any] | None:
    """One `data: {...}` line of an OpenAI stream; None for comments, blanks and [DONE]."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return None
    try:  # pydantic's parser: a node parses a chunk per token, json.loads takes 2.5× as long
        parsed = from_json(data)
    except ValueError as exc:
        raise BackendError(
            f"the engine sent a stream chunk that is not JSON: {data[:200]}"
        ) from exc
    if not isinstance(parsed, dict):
        raise BackendError(f"the engine sent a stream chunk that is not an object: {data[:200]}")
    return parsed


def usage_from(obj: dict[str, Any]) -> Usage | None:
    raw = obj.get("usage")
    if not isinstance(raw, dict):
        return None
    return Usage(int(raw.get("prompt_tokens", 0)), int(raw.get("completion_tokens", 0)))


async def engine_lines(
    client: httpx.AsyncClient, payload: dict[str, Any], model: str
) -> AsyncIterator[list[str]]:
    """The lines of the engine's streamed answer to `payload`, after a status check, in
    batches (those that arrived together). Plain-HTTP engines go through the lean client
    (sse_http.py), the rest through httpx."""
    if not sse_http.usable(client):
        async with client.stream("POST", "/v1/chat/completions", json=payload) as response:
            await raise_for_engine_status(response, model)
            async for line in response.aiter_lines():
                yield [line]
        return
    async with sse_http.post_stream(client, "/v1/chat/completions", payload) as lean:
        if lean.status_code >= 400:
            error = engine_status_error(lean.status_code, await lean.text(), model)
            raise error or BackendError(f"the engine answered HTTP {lean.status_code}")
        async for lines in lean.line_batches():
            yield lines


async def stream_chat(
    client: httpx.AsyncClient,
    request: GenerationRequest,
    *,
    served_name: str | None = None,
) -> AsyncIterator[GenerationEvent]:
    """Yield the engine's tokens, then one Finish carrying the engine's own usage.

    A `max_tokens` larger than the context leaves after the prompt is clamped, not
    refused: when the engine refuses the request and its refusal counts a prompt that fits,
    the request goes once more asking for what is left (vLLM and SGLang refuse; llama.cpp
    and MAX clamp by themselves)."""
    payload = chat_payload(request, served_name=served_name)
    started = False
    try:
        async for event in _events(client, payload, request.model):
            started = True
            yield event
    except ContextLengthExceeded as refused:
        room = refused.room_for_answer()
        if started or room is None or room < 1 or room >= payload["max_tokens"]:
            raise
        async for event in _events(client, {**payload, "max_tokens": room}, request.model):
            yield event


async def _events(
    client: httpx.AsyncClient, payload: dict[str, Any], model: str
) -> AsyncIterator[GenerationEvent]:
    usage: Usage | None = None
    finish_reason = "stop"
    host = str(client.base_url)
    with mapped_http_errors(host):
        async for lines in engine_lines(client, payload, model):
            texts: list[str] = []  # what this arrival carried: one event, not one per token
            for line in lines:
                chunk = parse_sse_chunk(line)
                if chunk is None:
                    continue
                if "error" in chunk:
                    if texts:
                        yield TokenDelta(tuple(texts))
                    refused = context_error(chunk)
                    raise refused or BackendError(f"the engine reported an error: {chunk['error']}")
                if chunk.get("usage"):  # most chunks carry none (or null)
                    usage = usage_from(chunk) or usage
                for choice in chunk.get("choices") or []:
                    if text := (choice.get("delta") or {}).get("content"):
                        texts.append(text)
                    finish_reason = choice.get("finish_reason") or finish_reason
            if texts:
                yield TokenDelta(tuple(texts))
    if usage is None:
        raise BackendError(
            f"the engine at {host} streamed no usage; it must honour "
            "stream_options.include_usage so that jobs are metered on real token counts"
        )
    yield Finish(usage=usage, finish_reason=finish_reason)
