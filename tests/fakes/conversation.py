"""How every fake engine answers a chat, so tests can predict text and token counts.

The reply is "echo:" followed by the words of the last user message, one token per
word, cut at the request's token limit (finish reason "length") or before a stop word.
Prompt tokens are the words of all messages plus one per message (its role). Real
engines count with a tokenizer; the fakes count words so that the numbers a test expects
are obvious, and every count an adapter reports must come from the engine's answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class EngineCrashed(RuntimeError):
    """Raised inside a streaming response: the connection drops mid-stream."""


@dataclass(frozen=True)
class Reply:
    pieces: tuple[str, ...]  # one per token, in order, spaces included
    finish_reason: str
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def prompt_tokens(messages: Sequence[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content", "")).split()) + 1 for m in messages)


def reply_to(
    messages: Sequence[dict[str, Any]], max_tokens: int | None, stop: Sequence[str] = ()
) -> Reply:
    users = [m for m in messages if m.get("role") == "user"]
    last_user: dict[str, Any] = users[-1] if users else {}
    words = ["echo:", *str(last_user.get("content", "")).split()]
    finish = "stop"
    for index, word in enumerate(words):
        if word in stop:
            words = words[:index]
            break
    if max_tokens is not None and len(words) > max_tokens:
        words, finish = words[:max_tokens], "length"
    pieces = tuple(word if i == 0 else f" {word}" for i, word in enumerate(words))
    return Reply(pieces, finish, prompt_tokens(messages))
