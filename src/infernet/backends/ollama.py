"""Ollama, through its native REST API (not its OpenAI shim), because only the native API
pulls and deletes models, reports which models are loaded, and takes `keep_alive`.

    GET    /api/tags     installed models (name, size, digest, details)   -> list_models
    GET    /api/ps       models loaded in memory right now                -> InstalledModel.loaded
    POST   /api/pull     NDJSON progress lines, `{"error": ...}` on failure -> install
    DELETE /api/delete   `{"model": ...}`; 404 when it is not there        -> remove
    POST   /api/chat     NDJSON: `message.content` per line, last line `done: true` with
                         `prompt_eval_count`, `eval_count`, `done_reason`  -> generate
    POST   /api/show     `model_info` (trained context, KV sizes)          -> context_length
    GET    /api/version  `{"version": ...}`                                 -> health detail

Every chat request sets `options.num_ctx` (ollama_context.py decides it) and asks for
`truncate: false` and `shift: false`, so a prompt that does not fit is refused with
llama.cpp's `exceed_context_size_error` instead of being silently cut: the adapter then
asks once more with a window that holds the engine's own count, or, past the model's
limit, raises ContextLengthExceeded.

`keep_alive` (the Book's OLLAMA_KEEP_ALIVE: "5m" default, 0 unloads at once, -1 keeps the
model loaded forever) is sent with every chat request when set, so the node, not whatever
the Ollama service happened to be started with, decides how long models stay hot.
Follows ollama/ollama `docs/api.md` and `docs/api/errors.mdx` (v0.33 line) and
`server/routes.go` for the error shapes.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from infernet.backends.base import (
    BackendHealth,
    Finish,
    GenerationEvent,
    GenerationRequest,
    InstalledModel,
    PullProgress,
    TokenDelta,
    Usage,
)
from infernet.backends.context import context_error
from infernet.backends.errors import (
    BackendError,
    BackendUnavailable,
    ContextLengthExceeded,
    InstallFailed,
    ModelNotLoaded,
)
from infernet.backends.ollama_context import OllamaContexts
from infernet.backends.openai_compat import mapped_http_errors
from infernet.protocol.tokens import prompt_bounds

DEFAULT_HOST = "http://localhost:11434"
START_HINT = (
    "Start Ollama (`ollama serve`, or `sudo systemctl start ollama` where it runs as a "
    "service) and try again."
)
KeepAlive = str | int
# Go's time.ParseDuration, which Ollama uses for string keep_alive values.
_GO_DURATION = re.compile(r"^-?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")


def normalize_keep_alive(value: KeepAlive) -> KeepAlive:
    """The JSON value Ollama accepts for `value`: whole numbers (seconds; negative means
    forever) as numbers, durations like "5m" or "1h30m" as strings."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if _GO_DURATION.match(text):
        return text
    raise ValueError(
        f"keep_alive {value!r} is not a duration Ollama understands; use e.g. '5m', '1h', "
        "0 (unload right away) or -1 (keep loaded)"
    )


def _json_line(line: str, host: str) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BackendError(f"Ollama at {host} sent a line that is not JSON: {line[:200]}") from exc
    if not isinstance(parsed, dict):
        raise BackendError(f"Ollama at {host} sent a line that is not an object: {line[:200]}")
    return parsed


def _error_text(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return text[:500]
    if isinstance(parsed, dict) and "error" in parsed:
        return str(parsed["error"])
    return text[:500]


def _progress(line: dict[str, Any]) -> PullProgress:
    completed, total = line.get("completed"), line.get("total")
    return PullProgress(
        status=str(line.get("status", "")),
        completed=int(completed) if completed is not None else None,
        total=int(total) if total is not None else None,
    )


def _finish(line: dict[str, Any]) -> Finish:
    usage = Usage(int(line.get("prompt_eval_count") or 0), int(line.get("eval_count") or 0))
    return Finish(usage=usage, finish_reason=str(line.get("done_reason") or "stop"))


class OllamaBackend:
    """Ollama at `host`; `keep_alive` (see module docs) goes with every chat request."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        *,
        keep_alive: KeepAlive | None = None,
        timeout_s: float = 300.0,
        context_cap: int | None = None,
        memory_bytes: int | None = None,
    ) -> None:
        self._host = host.rstrip("/")
        self._contexts = OllamaContexts(context_cap, memory_bytes)
        self._keep_alive = normalize_keep_alive(keep_alive) if keep_alive is not None else None
        self._client = httpx.AsyncClient(
            base_url=self._host, timeout=httpx.Timeout(timeout_s, connect=5.0)
        )

    @property
    def name(self) -> str:
        return "ollama"

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return mapped_http_errors(self._host, engine="Ollama", hint=START_HINT)

    @property
    def host(self) -> str:
        return self._host

    @property
    def keep_alive(self) -> KeepAlive | None:
        return self._keep_alive

    async def health(self) -> BackendHealth:
        try:
            with self._errors():
                tags = await self._client.get("/api/tags", timeout=5.0)
                version = await self._client.get("/api/version", timeout=5.0)
        except BackendError as exc:
            return BackendHealth(ok=False, detail=str(exc))
        if tags.status_code != 200:
            return BackendHealth(ok=False, detail=f"/api/tags answered HTTP {tags.status_code}")
        extra: dict[str, str] = {}
        if version.status_code == 200 and isinstance(version.json(), dict):
            extra["version"] = str(version.json().get("version", ""))
        return BackendHealth(ok=True, detail="ok", extra=extra)

    async def _models(self, path: str) -> list[dict[str, Any]]:
        with self._errors():
            response = await self._client.get(path, timeout=10.0)
        if response.status_code != 200:
            raise BackendUnavailable(
                f"Ollama at {self._host} answered {path} with HTTP {response.status_code}: "
                f"{_error_text(response.content)}"
            )
        models = response.json().get("models")
        if not isinstance(models, list):
            raise BackendError(f"Ollama at {self._host} answered {path} without a models list")
        return [m for m in models if isinstance(m, dict)]

    async def list_models(self) -> list[InstalledModel]:
        installed = await self._models("/api/tags")
        loaded = {str(m.get("name") or m.get("model")) for m in await self._models("/api/ps")}
        models = []
        for m in installed:
            name = str(m.get("name") or m.get("model"))
            size = int(m["size"]) if m.get("size") is not None else None
            limit = await self._contexts.limit(self._client, name, str(m.get("digest", "")), size)
            models.append(InstalledModel(name, size, name in loaded, limit))
        return models

    async def install(self, model: str) -> AsyncIterator[PullProgress]:
        succeeded = False
        with self._errors():
            payload = {"model": model, "stream": True}
            async with self._client.stream("POST", "/api/pull", json=payload) as response:
                if response.status_code != 200:
                    reason = _error_text(await response.aread())
                    raise InstallFailed(f"Ollama could not pull {model}: {reason}")
                async for raw in response.aiter_lines():
                    line = _json_line(raw, self._host)
                    if line is None:
                        continue
                    if "error" in line:
                        raise InstallFailed(f"Ollama could not pull {model}: {line['error']}")
                    progress = _progress(line)
                    succeeded = progress.status == "success"
                    yield progress
        if not succeeded:
            raise InstallFailed(f"Ollama's pull of {model} ended before it reported success")

    async def remove(self, model: str) -> None:
        with self._errors():
            response = await self._client.request("DELETE", "/api/delete", json={"model": model})
        if response.status_code == 404:
            raise ModelNotLoaded(f"Ollama has no model {model!r} to delete")
        if response.status_code != 200:
            raise InstallFailed(
                f"Ollama could not delete {model} (HTTP {response.status_code}): "
                f"{_error_text(response.content)}"
            )

    def chat_payload(self, request: GenerationRequest, num_ctx: int) -> dict[str, Any]:
        options: dict[str, Any] = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "num_predict": request.max_tokens,
            "num_ctx": num_ctx,
        }
        if request.stop:
            options["stop"] = list(request.stop)
        if request.seed is not None:
            options["seed"] = request.seed
        payload: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "options": options,
            "truncate": False,  # refuse what does not fit, never cut it silently
            "shift": False,
        }
        if self._keep_alive is not None:
            payload["keep_alive"] = self._keep_alive
        return payload

    async def _raise_for_chat_status(self, response: httpx.Response, model: str) -> None:
        if response.status_code == 200:
            return
        body = await response.aread()
        if (refused := context_error(body.decode("utf-8", "replace"))) is not None:
            raise refused
        reason = _error_text(body)
        if response.status_code == 404:
            raise ModelNotLoaded(
                f"Ollama has no model {model!r} ({reason}); run `infernet model install {model}`"
            )
        if response.status_code >= 500:
            raise BackendUnavailable(f"Ollama failed (HTTP {response.status_code}): {reason}")
        raise BackendError(f"Ollama refused the request (HTTP {response.status_code}): {reason}")

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        model, contexts = request.model, self._contexts
        limit = await contexts.limit(self._client, model)
        need = prompt_bounds(request.messages).upper + request.max_tokens
        window, started = contexts.window(model, need), False
        try:
            async for event in self._chat(self.chat_payload(request, window)):
                started = True
                yield event
        except ContextLengthExceeded as refused:
            prompt = refused.prompt_tokens
            fits = prompt is not None and (limit is None or prompt + 1 < limit)
            if started or not fits or window == limit:
                context = limit or refused.context_length
                raise ContextLengthExceeded(str(refused), prompt, context) from refused
            window = contexts.window(model, (prompt or 0) + request.max_tokens)
            async for event in self._chat(self.chat_payload(request, window)):
                yield event

    async def _chat(self, payload: dict[str, Any]) -> AsyncIterator[GenerationEvent]:
        with self._errors():
            async with self._client.stream("POST", "/api/chat", json=payload) as response:
                await self._raise_for_chat_status(response, payload["model"])
                async for raw in response.aiter_lines():
                    line = _json_line(raw, self._host)
                    if line is None:
                        continue
                    if "error" in line:
                        refused = context_error(line)
                        raise refused or BackendError(
                            f"Ollama failed mid-generation: {line['error']}"
                        )
                    text = (line.get("message") or {}).get("content")
                    if text:
                        yield TokenDelta((text,))
                    if line.get("done"):
                        yield _finish(line)
                        return
        raise BackendError(f"Ollama at {self._host} ended the stream before `done`")

    async def close(self) -> None:
        await self._client.aclose()
