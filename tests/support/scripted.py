"""A backend that answers from a script, for control-plane tests that need nodes but not
model output (real llama.cpp runs in tests/e2e). It implements the same `Backend`
protocol as the real adapters, so the node daemon around it is the real one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

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
from infernet.backends.errors import BackendUnavailable, ContextLengthExceeded


@dataclass
class ScriptedBackend:
    models: list[str]
    tokens: list[str] = field(default_factory=lambda: ["Paris", " is", " the", " capital", "."])
    delay_s: float = 0.0  # between tokens
    healthy: bool = True
    fail_after: int | None = None  # raise BackendUnavailable after this many tokens
    failures: int | None = None  # how many requests fail so (None: every one)
    fail_now: asyncio.Event = field(default_factory=asyncio.Event)  # set: fail at next token
    requests: list[GenerationRequest] = field(default_factory=list)
    backend_name: str = "llamacpp"
    # The engine's context (None: it does not say), and how many tokens a word of the
    # prompt takes in its tokenizer (its count of a prompt: words x this).
    context_length: int | None = None
    tokens_per_word: float = 1.0

    @property
    def name(self) -> str:
        return self.backend_name

    @property
    def host(self) -> str:
        return "scripted://"

    async def health(self) -> BackendHealth:
        return BackendHealth(ok=self.healthy, detail="ok" if self.healthy else "down")

    async def list_models(self) -> list[InstalledModel]:
        return [InstalledModel(m, 1000, True, self.context_length) for m in self.models]

    def count(self, request: GenerationRequest) -> int:
        words = sum(len(m.content.split()) for m in request.messages)
        return int(words * self.tokens_per_word)

    async def install(self, model: str) -> AsyncIterator[PullProgress]:
        self.models.append(model)
        yield PullProgress("success", 1, 1)

    async def remove(self, model: str) -> None:
        self.models.remove(model)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        self.requests.append(request)
        prompt = self.count(request)
        if self.context_length is not None and prompt >= self.context_length:
            raise ContextLengthExceeded("scripted: too long", prompt, self.context_length)
        failing = self.failures is None or len(self.requests) <= self.failures
        start = _continued(self.tokens, request)
        for index, token in enumerate(self.tokens):
            if index < start:
                continue  # already delivered: the request continues that prefix
            if self.fail_now.is_set() or (
                failing and self.fail_after is not None and index >= self.fail_after
            ):
                raise BackendUnavailable("scripted engine went away")
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield TokenDelta((token,))
        yield Finish(Usage(prompt, len(self.tokens)))

    async def close(self) -> None:
        return None


def _continued(tokens: list[str], request: GenerationRequest) -> int:
    """How many of `tokens` an assistant prefix at the end of `request` already holds (a
    continuation after failover), as a real engine would continue it."""
    last = request.messages[-1] if request.messages else None
    if last is None or last.role != "assistant":
        return 0
    text, count = "", 0
    while count < len(tokens) and text + tokens[count] == last.content[: len(text + tokens[count])]:
        text += tokens[count]
        count += 1
    return count if text == last.content else 0
