"""HTTP front of the embedded engine, shaped like llama.cpp's `llama-server`.

Endpoints (the subset Infernet uses): `GET /health`, `GET /v1/models`, `GET /props`,
`POST /v1/chat/completions` (streamed or not; `stream_options.include_usage` puts real
usage on a final chunk, as llama-server and OpenAI do). A prompt that does not fit the
context is refused before any answer starts, streamed or not, with llama-server's 400
`exceed_context_size_error` (llama-cpp-python itself raises a ValueError, which would be
a 500 or a cut stream). The scoring endpoints a verifier uses (`/tokenize`,
`/apply-template`, `/completion` with `n_probs`) are in scoring.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from infernet.engine.model import LoadedModel
from infernet.engine.scoring import install_scoring_routes

_DONE = object()
_TOO_LONG = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message, "type": kind}}, status)


def _too_long(exc: ValueError) -> JSONResponse:
    """llama-cpp-python's refusal of an over-long prompt, answered as llama-server does;
    any other ValueError is raised again."""
    found = _TOO_LONG.search(str(exc))
    if found is None:
        raise exc
    prompt, context = int(found.group(1)), int(found.group(2))
    error = {
        "code": 400,
        "message": f"request ({prompt} tokens) exceeds the available context size "
        f"({context} tokens), try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": prompt,
        "n_ctx": context,
    }
    return JSONResponse({"error": error}, 400)


def create_engine_app(model: LoadedModel) -> FastAPI:
    app = FastAPI(title="infernet engine (llama.cpp)", docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/props")
    async def props() -> dict[str, Any]:
        settings = {"id": 0, "n_ctx": model.n_ctx}  # llama-server's per-slot context
        return {
            "default_generation_settings": settings,
            "model_path": str(model.path),
            "total_slots": 1,
            "eos_token": model.eos_token,
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        entry = {
            "id": model.alias,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "llamacpp",
            "meta": {"size": model.size_bytes, "n_ctx_train": model.context.trained},
        }
        return {"object": "list", "data": [entry]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> StreamingResponse | JSONResponse:
        body = await request.json()
        if body.get("model") not in (None, model.alias, model.path.name):
            return _error(404, f"model {body.get('model')!r} not found", "not_found_error")
        if not body.get("messages"):
            return _error(400, "'messages' must be a non-empty list", "invalid_request_error")
        try:  # the first piece (or the refusal) comes before the status line goes out
            stream = await _primed(_generate(model, body))
        except ValueError as exc:
            return _too_long(exc)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(stream, model.alias, include_usage, model), media_type="text/event-stream"
            )
        return JSONResponse(await _collect(stream, model))

    install_scoring_routes(app, model)
    return app


async def _generate(model: LoadedModel, body: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
    """Run the blocking generation in a thread, handing pieces over as they come."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    cancelled = threading.Event()

    def work() -> None:
        try:
            with model.lock:
                for piece in model.chat_stream(body, cancelled):
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
        except Exception as exc:  # handed to the event loop, re-raised there
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    worker = loop.run_in_executor(None, work)
    try:
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        cancelled.set()
        await worker


async def _primed(pieces: AsyncIterator[tuple[str, Any]]) -> AsyncIterator[tuple[str, Any]]:
    """`pieces`, its first one already awaited: a refusal raises here, not mid-response."""
    try:
        first = await anext(pieces)
    except StopAsyncIteration:
        first = None

    async def chained() -> AsyncIterator[tuple[str, Any]]:
        if first is not None:
            yield first
        async for piece in pieces:
            yield piece

    return chained()


def _chunk(cid: str, alias: str, choices: list[dict[str, Any]], **extra: Any) -> str:
    obj = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": alias,
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(obj)}\n\n"


async def _sse(
    pieces: AsyncIterator[tuple[str, Any]], alias: str, include_usage: bool, model: LoadedModel
) -> AsyncIterator[str]:
    cid = f"chatcmpl-{uuid.uuid4().hex}"
    yield _chunk(cid, alias, [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}])
    async for text, finish in pieces:
        delta = {"content": text} if text else {}
        yield _chunk(cid, alias, [{"index": 0, "delta": delta, "finish_reason": finish}])
    if include_usage:
        counts = model.usage()
        usage = {
            "prompt_tokens": counts.prompt_tokens,
            "completion_tokens": counts.completion_tokens,
            "total_tokens": counts.prompt_tokens + counts.completion_tokens,
        }
        yield _chunk(cid, alias, [], usage=usage)
    yield "data: [DONE]\n\n"


async def _collect(pieces: AsyncIterator[tuple[str, Any]], model: LoadedModel) -> dict[str, Any]:
    text, finish_reason = [], "stop"
    async for piece, finish in pieces:
        text.append(piece)
        finish_reason = finish or finish_reason
    counts = model.usage()
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model.alias,
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "message": {"role": "assistant", "content": "".join(text)},
            }
        ],
        "usage": {
            "prompt_tokens": counts.prompt_tokens,
            "completion_tokens": counts.completion_tokens,
            "total_tokens": counts.prompt_tokens + counts.completion_tokens,
        },
    }
