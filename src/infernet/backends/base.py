"""The one contract every inference backend adapter implements.

The node daemon never talks to an engine directly: it holds a `Backend` and speaks in the
typed values below. Adapters parse each engine's JSON at the edge into these values and
translate transport failures into `infernet.backends.errors` (always `raise ... from exc`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]
UsageSource = Literal["backend", "tokenizer"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One chat generation, already validated by the control plane."""

    model: str
    messages: tuple[ChatMessage, ...]
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class TokenDelta:
    """The pieces of generated text that came from the engine together, in the order it
    produced them: one per token as it streamed them (an adapter that fell behind its
    engine passes what it read at once in one event, not an event per token)."""

    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Usage:
    """Real token counts. `source` says whether the engine reported them or we counted
    them with the model's tokenizer because the engine reports none."""

    prompt_tokens: int
    completion_tokens: int
    source: UsageSource = "backend"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Finish:
    """The last event of a generation."""

    usage: Usage
    finish_reason: str = "stop"


GenerationEvent = TokenDelta | Finish


@dataclass(frozen=True, slots=True)
class InstalledModel:
    name: str
    size_bytes: int | None = None
    loaded: bool = False  # resident in memory right now (hot), not just on disk
    context_length: int | None = None  # tokens the engine runs it with; None: unknown


@dataclass(frozen=True, slots=True)
class PullProgress:
    """Progress of an install; `completed`/`total` in bytes when the engine says."""

    status: str
    completed: int | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class BackendHealth:
    ok: bool
    detail: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """An inference engine the node daemon drives."""

    @property
    def name(self) -> str:
        """Short engine name: ollama, vllm, sglang, max, llamacpp."""
        ...

    @property
    def host(self) -> str:
        """Base URL of the engine, e.g. http://localhost:11434."""
        ...

    async def health(self) -> BackendHealth: ...

    async def list_models(self) -> list[InstalledModel]: ...

    def install(self, model: str) -> AsyncIterator[PullProgress]:
        """Pull or load `model`, yielding progress; raises InstallFailed."""
        ...

    async def remove(self, model: str) -> None:
        """Delete the model's weights from the engine; raises InstallFailed."""
        ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Stream TokenDelta events, then exactly one Finish with real usage."""
        ...

    async def close(self) -> None: ...
