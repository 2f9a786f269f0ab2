"""The OpenAI-compatible surface vLLM, SGLang and MAX share, parametrized by what differs.

`/v1/models` (`owned_by` is each engine's own), `/v1/chat/completions` with SSE streaming
(`data: {chunk}` lines, a first chunk carrying `delta.role`, a last content chunk with
`finish_reason`, then, when `stream_options.include_usage` is set, one chunk with empty
`choices` and `usage`, then `data: [DONE]`), and `/health` answering 200 with an empty
body (503 when the engine is marked dead). Every card carries `max_model_len`, and a
prompt (counted as conversation.py counts) that does not fit it is refused before any
answer with 400 and the engine's own sentence, or, for an engine that clamps, the answer
is cut to the room left. Each engine module says which version of its engine's source it
follows and supplies a `Dialect`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.conversation import EngineCrashed, prompt_tokens, reply_to

ErrorBody = Callable[[int, str, str], dict[str, Any]]
# (prompt tokens, max_tokens asked for, max_model_len) -> the engine's refusal, or None
ContextCheck = Callable[[int, int, int], str | None]


@dataclass(frozen=True)
class Dialect:
    """How one engine differs from the others on the shared surface."""

    owned_by: str
    unknown_model_status: int | None  # None: the engine ignores `model` and answers anyway
    unknown_model_message: Callable[[str], str]
    error_body: ErrorBody
    context_check: ContextCheck
    clamps: bool = False  # max_tokens beyond the room left is cut to it, not refused
    max_model_len: int = 32768


@dataclass
class EngineState:
    served_model: str
    model_path: str
    healthy: bool = True
    crash_after_tokens: int | None = None
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    max_model_len: int | None = None  # None: the dialect's


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def _chunk(state: EngineState, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": state.served_model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _stream(state: EngineState, body: dict[str, Any], max_tokens: int) -> Iterator[str]:
    stop = body.get("stop") or ()
    stops = [stop] if isinstance(stop, str) else stop
    reply = reply_to(body["messages"], max_tokens, stops)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    yield _sse(_chunk(state, {"role": "assistant", "content": ""}, None))
    for count, piece in enumerate(reply.pieces):
        if state.crash_after_tokens is not None and count == state.crash_after_tokens:
            raise EngineCrashed("EngineCore died mid-generation")
        last = count == len(reply.pieces) - 1
        yield _sse(_chunk(state, {"content": piece}, reply.finish_reason if last else None))
    if not reply.pieces:
        yield _sse(_chunk(state, {"content": ""}, reply.finish_reason))
    if include_usage:
        usage = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }
        yield _sse({**_chunk(state, {}, None), "choices": [], "usage": usage})
    yield "data: [DONE]\n\n"


def create_app(state: EngineState, dialect: Dialect) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200 if state.healthy else 503)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {
            "id": state.served_model,
            "object": "model",
            "created": int(time.time()),
            "owned_by": dialect.owned_by,
            "root": state.model_path,
            "max_model_len": state.max_model_len or dialect.max_model_len,
        }
        return {"object": "list", "data": [card]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        state.chat_requests.append(body)
        status = dialect.unknown_model_status
        if status is not None and body.get("model") not in (None, state.served_model):
            message = dialect.unknown_model_message(str(body.get("model")))
            return JSONResponse(dialect.error_body(status, message, "model"), status_code=status)
        if not body.get("stream"):
            return JSONResponse(dialect.error_body(400, "the fake streams only", ""), 400)
        limit, prompt = (
            state.max_model_len or dialect.max_model_len,
            prompt_tokens(body["messages"]),
        )
        max_tokens = int(body.get("max_tokens") or 16)
        if (refusal := dialect.context_check(prompt, max_tokens, limit)) is not None:
            return JSONResponse(dialect.error_body(400, refusal, ""), 400)
        if dialect.clamps:
            max_tokens = min(max_tokens, limit - prompt)
        return StreamingResponse(_stream(state, body, max_tokens), media_type="text/event-stream")

    return app


def run_process(app: FastAPI, host: str, port: int, startup_delay_s: float) -> None:
    """Serve `app` in this process, as the real engine's CLI would."""
    time.sleep(startup_delay_s)  # loading the weights
    uvicorn.run(app, host=host, port=port, log_level="warning")


def launch_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", default=None)
    parser.add_argument("--startup-delay", type=float, default=0.0)
    return parser
