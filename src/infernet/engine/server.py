"""HTTP front of the embedded engine, shaped like llama.cpp's `llama-server`.

Endpoints (the subset Infernet uses): `GET /health`, `GET /v1/models`, `GET /props`,
`POST /v1/chat/completions` (streamed or not; `stream_options.include_usage` puts real
usage on a final chunk, as llama-server and OpenAI do).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from infernet.engine.model import LoadedModel

_DONE = object()


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message, "type": kind}}, status)


def create_engine_app(model: LoadedModel) -> FastAPI:
    app = FastAPI(title="infernet engine (llama.cpp)", docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/props")
    async def props() -> dict[str, Any]:
        return {"model_path": str(model.path), "total_slots": 1, "n_ctx": model.n_ctx}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        entry = {
            "id": model.alias,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "llamacpp",
            "meta": {"size": model.size_bytes, "n_ctx_train": model.n_ctx},
        }
        return {"object": "list", "data": [entry]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> StreamingResponse | JSONResponse:
        body = await request.json()
        if body.get("model") not in (None, model.alias, model.path.name):
            return _error(404, f"model {body.get('model')!r} not found", "not_found_error")
        if not body.get("messages"):
            return _error(400, "'messages' must be a non-empty list", "invalid_request_error")
        stream = _generate(model, body)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(stream, model.alias, include_usage, model), media_type="text/event-stream"
            )
        return JSONResponse(await _collect(stream, model))

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
