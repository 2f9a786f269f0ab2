"""Model names across backends, and the routing key the control plane matches on.

Each backend names models its own way (Ollama tags, Hugging Face ids, GGUF filenames).
The control plane routes on `routing_key(name)`, so that the same model asked for by any
of its names reaches every node that serves it.
"""

from __future__ import annotations


def routing_key(name: str) -> str:
    """Canonical key for routing: lower case, without a `.gguf` suffix or an HF org."""
    key = name.strip().lower()
    key = key.removesuffix(".gguf")
    return key.rsplit("/", 1)[-1]
