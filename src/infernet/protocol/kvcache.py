"""How much memory a context window costs, from a model's GGUF metadata.

Shared by the embedded engine (which sizes its own context) and the Ollama adapter
(which tells Ollama how large a context to allocate). Both read the same GGUF keys:
llama-cpp-python hands them over as strings, Ollama's `/api/show` `model_info` as JSON
numbers.

The KV cache holds, for every token of the context, a key and a value vector per layer
and per KV head: `block_count × head_count_kv × (key_length + value_length) × bytes`, at
2 bytes a value (F16, the default of llama.cpp and Ollama). The largest context that fits
is the trained one or the largest power of two below it whose cache takes at most the
memory given, never less than `MIN_CONTEXT` (where a model runs at all).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

MIN_CONTEXT = 2048
KV_BYTES_PER_VALUE = 2


def _int(metadata: Mapping[str, object], key: str) -> int | None:
    value = metadata.get(key)
    try:
        number = int(str(value)) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None


def trained_context(metadata: Mapping[str, object]) -> int | None:
    """The context length the model was trained for (`<arch>.context_length`)."""
    arch = metadata.get("general.architecture")
    return _int(metadata, f"{arch}.context_length") if arch else None


def kv_bytes_per_token(metadata: Mapping[str, object]) -> int | None:
    """Bytes of KV cache one token of context takes; None when the metadata lacks a size."""
    arch = metadata.get("general.architecture")
    layers = _int(metadata, f"{arch}.block_count")
    heads = _int(metadata, f"{arch}.attention.head_count")
    width = _int(metadata, f"{arch}.embedding_length")
    if not arch or layers is None or heads is None:
        return None
    kv_heads = _int(metadata, f"{arch}.attention.head_count_kv") or heads
    key = _int(metadata, f"{arch}.attention.key_length") or (width // heads if width else None)
    if key is None:
        return None
    value = _int(metadata, f"{arch}.attention.value_length") or key
    return layers * kv_heads * (key + value) * KV_BYTES_PER_VALUE


def affordable_context(trained: int, per_token: int | None, memory_bytes: int | None) -> int:
    """The largest context up to `trained` whose KV cache fits in `memory_bytes` (the
    trained one when either is unknown), halving from `trained`, at least `MIN_CONTEXT`."""
    if per_token is None or memory_bytes is None:
        return trained
    context = trained
    while context > MIN_CONTEXT and context * per_token > memory_bytes:
        context //= 2
    return max(min(context, trained), min(trained, MIN_CONTEXT))


def physical_memory_bytes(available: bool = False) -> int | None:
    """This machine's RAM (what is free now, with `available`); None where the OS won't say."""
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES" if available else "SC_PHYS_PAGES")
        return int(pages) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None
