"""The context Ollama runs each model with: the node decides it, never Ollama's default.

Left alone, Ollama runs every model at its default `num_ctx` (2,048 tokens for years, a
VRAM-dependent default now) and silently drops the start of a longer prompt. So the
adapter sets `num_ctx` on every chat request, and this module decides it:

- The model's limit: its trained context (`<arch>.context_length` in `/api/show`
  `model_info`), lowered until its KV cache fits in the node's memory beside the weights
  (protocol/kvcache.py), and to the operator's cap (`ollama_num_ctx` in the node config,
  or `OLLAMA_CONTEXT_LENGTH`). That limit is what the node advertises for the model.
- Per request: the smallest power of two (at least `MIN_WINDOW`) that holds the prompt's
  upper bound (protocol/tokens.py) plus `max_tokens`, up to the limit, and never smaller
  than a window already used for that model: Ollama reloads a model whenever `num_ctx`
  changes, so the window only grows.

`/api/show` is asked once per model digest (a re-pull changes the digest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from infernet.protocol.kvcache import affordable_context, kv_bytes_per_token, trained_context

MIN_WINDOW = 4096


@dataclass
class OllamaContexts:
    cap: int | None = None  # the operator's cap on every model's context
    memory_bytes: int | None = None  # what weights plus KV cache may take
    # model -> (its digest, its limit), and model -> the largest num_ctx sent for it
    _limits: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    _windows: dict[str, int] = field(default_factory=dict)

    def known_limit(self, model: str) -> int | None:
        cached = self._limits.get(model)
        return cached[1] if cached else None

    async def limit(
        self, client: httpx.AsyncClient, model: str, digest: str = "", size: int | None = None
    ) -> int | None:
        """The most tokens this node lets Ollama give `model` (None: unknown)."""
        cached = self._limits.get(model)
        if cached is not None and (not digest or cached[0] == digest):
            return cached[1]
        try:
            response = await client.post("/api/show", json={"model": model}, timeout=10.0)
        except httpx.HTTPError:
            return self.cap
        if response.status_code != 200:
            return self.cap
        info = response.json().get("model_info")
        limit = self._limit_from(info if isinstance(info, dict) else {}, size)
        self._limits[model] = (digest, limit)
        return limit

    def _limit_from(self, info: dict[str, Any], size: int | None) -> int | None:
        trained = trained_context(info)
        if trained is None:
            return self.cap
        free = None if self.memory_bytes is None else max(0, self.memory_bytes - (size or 0))
        limit = affordable_context(trained, kv_bytes_per_token(info), free)
        return min(limit, self.cap) if self.cap else limit

    def window(self, model: str, need: int) -> int:
        """The `num_ctx` to send for a request needing `need` tokens (see module docs)."""
        size = max(MIN_WINDOW, 1 << max(0, need - 1).bit_length())
        size = max(size, self._windows.get(model, 0))
        limit = self.known_limit(model)
        if limit is not None:
            size = min(size, limit)
        self._windows[model] = size
        return size
