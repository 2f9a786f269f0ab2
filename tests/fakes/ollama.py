"""A fake Ollama server, written from ollama/ollama `docs/api.md` and `docs/api/errors.mdx`
at commit fb30760 (the v0.33 release line), with error shapes from `server/routes.go`
(`PullHandler`, `DeleteHandler`, `streamResponse`) and `keep_alive` parsing from
`api/types.go` (`Duration.UnmarshalJSON`: numbers are seconds, strings must be Go
durations, so the string "-1" is refused with 400).

Endpoints: GET /api/tags, GET /api/ps, GET /api/version, POST /api/pull (NDJSON progress,
`{"error": ...}` line on failure), DELETE /api/delete (404 when missing), POST /api/chat
(NDJSON, final `done: true` line with `prompt_eval_count`, `eval_count`, `done_reason`),
and what `ollama create` / `ollama push` use (docs/api.md "Create a Model", "Check if a
Blob Exists", "Push a Blob", "Push a Model"): HEAD/POST /api/blobs/sha256:<digest> (200 or
404; 201, or 400 when the bytes do not match the digest), POST /api/create with `model`,
`files` {name: digest}, `template`, `parameters`, `system` (NDJSON statuses, "success"),
POST /api/push with `model` (needs `namespace/model`; NDJSON statuses).

Context, as Ollama handles it (`server/prompt.go` chatPrompt, `server/sched.go`, the
`truncate`/`shift` request fields of ollama/ollama#12537, ollama/ollama#16712 and the
reply in ollama/ollama#16800): POST /api/show answers `model_info` with the GGUF keys
(`llama.context_length`, the trained context; block and head counts). A chat runs with
`options.num_ctx` (else the default, `DEFAULT_NUM_CTX`), never above the trained context;
a different `num_ctx` than the loaded runner's reloads the model (recorded in `loads`),
and /api/ps reports the runner's `context_length`. A prompt (counted as conversation.py
counts) over the context is, with `truncate: false`, refused before any answer with the
runner's llama.cpp error as a string in `{"error": ...}`; otherwise silently cut: the
oldest messages after the system ones are dropped until it fits (the last one stays, cut
to the context if it alone is too long), which is what `prompt_eval_count` then counts.
With `shift: false` the answer stops where the context is full (`done_reason: length`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.conversation import EngineCrashed, prompt_tokens, reply_to

VERSION = "0.33.0"
DEFAULT_NUM_CTX = 4096
TRAINED_CONTEXT = 131072
_GO_DURATION = re.compile(r"^-?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")
_CREATED = "2026-08-21T18:48:22.000000000-07:00"


def full_name(name: str) -> str:
    """Ollama names default to the `latest` tag."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def digest_of(name: str, index: int = 0) -> str:
    return hashlib.sha256(f"{name}/{index}".encode()).hexdigest()


@dataclass
class OllamaState:
    """What the fake holds: the registry it can pull from, and what is on disk / in VRAM."""

    registry: dict[str, list[int]] = field(default_factory=dict)  # name -> layer sizes
    installed: dict[str, int] = field(default_factory=dict)  # name -> size in bytes
    loaded: set[str] = field(default_factory=set)
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    pull_requests: list[str] = field(default_factory=list)  # names asked for, as sent
    crash_after_tokens: int | None = None  # drop the connection after this many tokens
    error_after_tokens: int | None = None  # send an `{"error": ...}` line instead
    blobs: dict[str, bytes] = field(default_factory=dict)  # "sha256:..." -> bytes
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> create body
    pushed: list[str] = field(default_factory=list)
    trained: dict[str, int] = field(default_factory=dict)  # name -> context (else TRAINED_CONTEXT)
    running_ctx: dict[str, int] = field(default_factory=dict)  # name -> runner's num_ctx
    loads: list[tuple[str, int]] = field(default_factory=list)  # (name, num_ctx) per (re)load
    show_requests: list[str] = field(default_factory=list)

    def model_info(self, name: str) -> dict[str, Any]:
        return {
            "general.architecture": "llama",
            "general.parameter_count": 3_212_749_888,
            "llama.context_length": self.trained.get(name, TRAINED_CONTEXT),
            "llama.block_count": 28,
            "llama.embedding_length": 3072,
            "llama.attention.head_count": 24,
            "llama.attention.head_count_kv": 8,
        }

    def model_entry(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": _CREATED,
            "size": self.installed[name],
            "digest": digest_of(name),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        }


def _ndjson(lines: Iterator[dict[str, Any]]) -> StreamingResponse:
    body = (json.dumps(line) + "\n" for line in lines)
    return StreamingResponse(body, media_type="application/x-ndjson")


def _pull_lines(state: OllamaState, name: str) -> Iterator[dict[str, Any]]:
    yield {"status": "pulling manifest"}
    if name not in state.registry:
        yield {"error": "pull model manifest: file does not exist"}
        return
    for index, size in enumerate(state.registry[name]):
        digest = f"sha256:{digest_of(name, index)}"
        yield {"status": f"pulling {digest[7:19]}", "digest": digest, "total": size}
        for part in (1, 2, 3, 4):
            completed = size * part // 4
            status = f"pulling {digest[7:19]}"
            yield {"status": status, "digest": digest, "total": size, "completed": completed}
    for status in ("verifying sha256 digest", "writing manifest", "success"):
        yield {"status": status}
    state.installed[name] = sum(state.registry[name])


def _keep_alive_error(value: Any) -> str | None:
    if value is None or isinstance(value, int | float):
        return None
    if value == "0" or (isinstance(value, str) and _GO_DURATION.match(value)):
        return None
    return f'time: invalid duration "{value}"'


def _run_context(state: OllamaState, name: str, options: dict[str, Any]) -> int:
    """The runner's context for this request, (re)loading the model when it changes."""
    context = min(
        int(options.get("num_ctx") or DEFAULT_NUM_CTX),
        state.model_info(name)["llama.context_length"],
    )
    if state.running_ctx.get(name) != context:
        state.running_ctx[name] = context
        state.loads.append((name, context))
    return context


def _truncated(messages: list[dict[str, Any]], context: int) -> int:
    """What Ollama's chatPrompt keeps of a prompt over `context`: the system messages and
    the newest others that fit; the prompt tokens it then evaluates."""
    system = [m for m in messages if m.get("role") == "system"]
    rest = [m for m in messages if m.get("role") != "system"]
    while len(rest) > 1 and prompt_tokens([*system, *rest]) > context:
        rest.pop(0)
    return min(prompt_tokens([*system, *rest]), context)


def _too_long(prompt: int, context: int) -> JSONResponse:
    error = {
        "code": 400,
        "message": f"request ({prompt} tokens) exceeds the available context size "
        f"({context} tokens), try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": prompt,
        "n_ctx": context,
    }
    return JSONResponse({"error": json.dumps({"error": error})}, status_code=400)


def _chat_lines(
    state: OllamaState, body: dict[str, Any], prompt: int, room: int
) -> Iterator[dict[str, Any]]:
    options = body.get("options") or {}
    predict = options.get("num_predict")
    limit = room if predict is None else min(predict, room)
    reply = reply_to(body["messages"], limit, options.get("stop") or ())
    model = full_name(body["model"])
    for count, piece in enumerate(reply.pieces):
        if state.crash_after_tokens is not None and count == state.crash_after_tokens:
            raise EngineCrashed("the runner process terminated")
        if state.error_after_tokens is not None and count == state.error_after_tokens:
            yield {"error": "an error was encountered while running the model"}
            return
        message = {"role": "assistant", "content": piece}
        yield {"model": model, "created_at": _CREATED, "message": message, "done": False}
    if body.get("keep_alive") in (0, "0", "0s"):
        state.loaded.discard(model)
    yield {
        "model": model,
        "created_at": _CREATED,
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": reply.finish_reason,
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 342546000,
        "eval_count": reply.completion_tokens,
        "eval_duration": 4535599000,
    }


def create_app(state: OllamaState) -> FastAPI:
    app = FastAPI()
    _inventory_routes(app, state)
    _pull_and_chat_routes(app, state)
    _create_and_push_routes(app, state)
    return app


def _create_lines(state: OllamaState, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield {"status": "parsing GGUF"}
    for digest in (body.get("files") or {}).values():
        if digest not in state.blobs:
            yield {"error": f"blob {digest} not found"}
            return
        yield {"status": f"using existing layer {digest}"}
    for part in ("template", "parameters", "system"):
        if body.get(part):
            yield {"status": f"creating {part} layer"}
    state.created[full_name(body["model"])] = body
    state.installed[full_name(body["model"])] = sum(
        len(state.blobs[d]) for d in (body.get("files") or {}).values()
    )
    yield {"status": "writing manifest"}
    yield {"status": "success"}


def _push_lines(state: OllamaState, name: str) -> Iterator[dict[str, Any]]:
    yield {"status": "retrieving manifest"}
    if name not in state.created:
        yield {"error": f"pull model manifest: model '{name}' not found"}
        return
    if "/" not in name:
        yield {"error": "you are not authorized to push to this namespace, create the model"}
        return
    for digest in state.created[name].get("files", {}).values():
        size = len(state.blobs[digest])
        yield {"status": "starting upload", "digest": digest, "total": size}
        yield {"status": "starting upload", "digest": digest, "total": size, "completed": size}
    state.pushed.append(name)
    yield {"status": "pushing manifest"}
    yield {"status": "success"}


def _create_and_push_routes(app: FastAPI, state: OllamaState) -> None:
    @app.head("/api/blobs/{digest}")
    async def has_blob(digest: str) -> Response:
        return Response(status_code=200 if digest in state.blobs else 404)

    @app.post("/api/blobs/{digest}")
    async def put_blob(digest: str, request: Request) -> Response:
        data = await request.body()
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            return JSONResponse({"error": "digest mismatch"}, status_code=400)
        state.blobs[digest] = data
        return Response(status_code=201)

    @app.post("/api/create")
    async def create(request: Request) -> Response:
        return _ndjson(_create_lines(state, await request.json()))

    @app.post("/api/push")
    async def push(request: Request) -> Response:
        return _ndjson(_push_lines(state, full_name((await request.json()).get("model", ""))))


def _inventory_routes(app: FastAPI, state: OllamaState) -> None:
    @app.get("/api/tags")
    async def tags() -> dict[str, Any]:
        return {"models": [state.model_entry(name) for name in state.installed]}

    @app.get("/api/ps")
    async def ps() -> dict[str, Any]:
        running = [
            {
                **state.model_entry(n),
                "expires_at": _CREATED,
                "size_vram": state.installed[n],
                "context_length": state.running_ctx.get(n, DEFAULT_NUM_CTX),
            }
            for n in state.loaded
            if n in state.installed
        ]
        return {"models": running}

    @app.post("/api/show")
    async def show(request: Request) -> Response:
        name = full_name((await request.json()).get("model", ""))
        state.show_requests.append(name)
        if name not in state.installed:
            return JSONResponse({"error": f"model '{name}' not found"}, status_code=404)
        details = state.model_entry(name)["details"]
        parameters = 'stop "<|start_header_id|>"\nstop "<|eot_id|>"'
        info = state.model_info(name)
        return JSONResponse({"parameters": parameters, "details": details, "model_info": info})

    @app.get("/api/version")
    async def version() -> dict[str, str]:
        return {"version": VERSION}

    @app.delete("/api/delete")
    async def delete(request: Request) -> Response:
        name = full_name((await request.json()).get("model", ""))
        if name not in state.installed:
            return JSONResponse({"error": f"model '{name}' not found"}, status_code=404)
        del state.installed[name]
        state.loaded.discard(name)
        return Response(status_code=200)


def _pull_and_chat_routes(app: FastAPI, state: OllamaState) -> None:
    @app.post("/api/pull")
    async def pull(request: Request) -> Response:
        body = await request.json()
        state.pull_requests.append(str(body.get("model") or body.get("name") or ""))
        name = full_name(body.get("model") or body.get("name") or "")
        if body.get("stream") is False:
            last = list(_pull_lines(state, name))[-1]
            return JSONResponse(last, status_code=500 if "error" in last else 200)
        return _ndjson(_pull_lines(state, name))

    @app.post("/api/chat")
    async def chat(request: Request) -> Response:
        body = await request.json()
        state.chat_requests.append(body)
        if (error := _keep_alive_error(body.get("keep_alive"))) is not None:
            return JSONResponse({"error": error}, status_code=400)
        name = full_name(body.get("model", ""))
        if name not in state.installed:
            return JSONResponse({"error": f"model '{body.get('model')}' not found"}, 404)
        state.loaded.add(name)
        context = _run_context(state, name, body.get("options") or {})
        prompt = prompt_tokens(body["messages"])
        if prompt >= context and body.get("truncate") is False:
            return _too_long(prompt, context)
        prompt = _truncated(body["messages"], context) if prompt >= context else prompt
        shift = body.get("shift") is not False
        room = 1 << 30 if shift else max(0, context - prompt)
        return _ndjson(_chat_lines(state, body, prompt, room))
