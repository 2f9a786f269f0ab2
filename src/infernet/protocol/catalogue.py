"""The catalogue: well-known models with their real parameter count, their kind, and their
name on each backend (an Ollama tag, a Hugging Face id, a GGUF file name).

`infernet.protocol.modelnames` derives routing-key aliases from it (so irregular names
like `DeepSeek-V2-Lite` route right); `infernet.protocol.vram` sizes and recommends from
it; the CLI and the dashboard show its names per backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ModelKind = Literal["chat", "code", "embedding"]


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """A well-known model: its routing key, real parameter count, and name per backend."""

    key: str
    params_b: float
    kind: ModelKind
    ollama: str | None
    huggingface: str | None
    gguf: str | None = None
    ollama_quant: str = "q4"  # what `ollama pull <tag>` fetches by default


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry("qwen2.5:0.5b", 0.49, "chat", "qwen2.5:0.5b", "Qwen/Qwen2.5-0.5B-Instruct"),
    CatalogueEntry(
        "qwen2.5:1.5b",
        1.54,
        "chat",
        "qwen2.5:1.5b",
        "Qwen/Qwen2.5-1.5B-Instruct",
        "qwen2.5-1.5b-instruct-q4_k_m.gguf",
    ),
    CatalogueEntry(
        "qwen2.5:3b",
        3.09,
        "chat",
        "qwen2.5:3b",
        "Qwen/Qwen2.5-3B-Instruct",
        "qwen2.5-3b-instruct-q4_k_m.gguf",
    ),
    CatalogueEntry(
        "qwen2.5:7b",
        7.62,
        "chat",
        "qwen2.5:7b",
        "Qwen/Qwen2.5-7B-Instruct",
        "qwen2.5-7b-instruct-q4_k_m.gguf",
    ),
    CatalogueEntry(
        "qwen2.5:14b",
        14.7,
        "chat",
        "qwen2.5:14b",
        "Qwen/Qwen2.5-14B-Instruct",
        "qwen2.5-14b-instruct-q4_k_m.gguf",
    ),
    CatalogueEntry(
        "qwen2.5:32b",
        32.8,
        "chat",
        "qwen2.5:32b",
        "Qwen/Qwen2.5-32B-Instruct",
        "qwen2.5-32b-instruct-q4_k_m.gguf",
    ),
    CatalogueEntry("qwen2.5:72b", 72.7, "chat", "qwen2.5:72b", "Qwen/Qwen2.5-72B-Instruct"),
    CatalogueEntry(
        "qwen2.5-coder:7b",
        7.62,
        "code",
        "qwen2.5-coder:7b",
        "Qwen/Qwen2.5-Coder-7B-Instruct",
        "qwen2.5-coder-7b-instruct-q4_k_m.gguf",
    ),
    CatalogueEntry("llama3.2:1b", 1.24, "chat", "llama3.2:1b", "meta-llama/Llama-3.2-1B-Instruct"),
    CatalogueEntry("llama3.2:3b", 3.21, "chat", "llama3.2:3b", "meta-llama/Llama-3.2-3B-Instruct"),
    CatalogueEntry(
        "llama3.1:8b",
        8.03,
        "chat",
        "llama3.1:8b",
        "meta-llama/Llama-3.1-8B-Instruct",
        "llama-3.1-8b-instruct-q5_k_m.gguf",
    ),
    CatalogueEntry(
        "llama3.1:70b", 70.6, "chat", "llama3.1:70b", "meta-llama/Llama-3.1-70B-Instruct"
    ),
    CatalogueEntry("mistral:7b", 7.25, "chat", "mistral:7b", "mistralai/Mistral-7B-Instruct-v0.3"),
    CatalogueEntry(
        "deepseek-coder:6.7b",
        6.74,
        "code",
        "deepseek-coder:6.7b",
        "deepseek-ai/deepseek-coder-6.7b-instruct",
    ),
    CatalogueEntry(
        "deepseek-coder:33b",
        33.3,
        "code",
        "deepseek-coder:33b",
        "deepseek-ai/deepseek-coder-33b-instruct",
    ),
    CatalogueEntry(
        "deepseek-v2:16b", 15.7, "chat", "deepseek-v2:16b", "deepseek-ai/DeepSeek-V2-Lite-Chat"
    ),
    CatalogueEntry("deepseek-v2:16b-base", 15.7, "chat", None, "deepseek-ai/DeepSeek-V2-Lite"),
    CatalogueEntry(
        "smollm2:135m",
        0.135,
        "chat",
        "smollm2:135m",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        ollama_quant="fp16",
    ),
    CatalogueEntry(
        "nomic-embed-text",
        0.137,
        "embedding",
        "nomic-embed-text:latest",
        "nomic-ai/nomic-embed-text-v1.5",
        ollama_quant="fp16",
    ),
)  # fmt: skip  (a table reads best one model per row)
