"""The context the embedded engine runs a model with, and the sentence saying why.

The model's trained context (`<arch>.context_length` in its GGUF metadata: 8,192 for
SmolLM2-135M) when its KV cache fits in half the memory free at start, else the largest
power of two below it that does (protocol/kvcache.py); an explicit `--ctx-size` wins.
The metadata is read from a vocabulary-only load, which maps no weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import llama_cpp

from infernet.protocol.kvcache import (
    MIN_CONTEXT,
    affordable_context,
    kv_bytes_per_token,
    physical_memory_bytes,
    trained_context,
)

MEMORY_SHARE = 0.5  # of the memory free at start, the most the KV cache may take


@dataclass(frozen=True, slots=True)
class ContextChoice:
    n_ctx: int
    trained: int | None  # what the model was trained for; None: the GGUF does not say
    reason: str

    def describe(self, name: str) -> str:
        return f"{name}: context {self.n_ctx} tokens ({self.reason})"


def _mib(count: int) -> str:
    return f"{count / 2**20:,.0f} MiB"


def choose_context(path: Path, requested: int | None = None) -> ContextChoice:
    metadata = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False).metadata
    trained = trained_context(metadata)
    if requested is not None:
        return ContextChoice(requested, trained, f"--ctx-size; trained for {trained}")
    if trained is None:
        return ContextChoice(MIN_CONTEXT, None, "the GGUF names no trained context")
    per_token = kv_bytes_per_token(metadata)
    free = physical_memory_bytes(available=True)
    budget = int(free * MEMORY_SHARE) if free is not None else None
    n_ctx = affordable_context(trained, per_token, budget)
    cache = _mib(n_ctx * per_token) if per_token else "unknown size"
    if n_ctx == trained:
        return ContextChoice(n_ctx, trained, f"the trained context; KV cache {cache}")
    return ContextChoice(
        n_ctx,
        trained,
        f"trained for {trained}, lowered so the KV cache ({cache}) fits in half of the "
        f"{_mib(free or 0)} free",
    )
