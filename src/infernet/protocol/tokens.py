"""How many tokens a chat prompt takes, bounded without the model's tokenizer.

The control plane routes jobs for models it has no tokenizer for, so it cannot count a
prompt exactly; the engine can, and the node checks there (backends/context.py). What
anyone can know from the text alone is a pair of bounds:

- `lower`: every whitespace-separated word of the messages' content is at least one
  token (long words at least one per `MAX_TOKEN_BYTES` bytes). This holds for every
  tokenizer whose tokens never join two words across whitespace: the byte-level BPEs
  (GPT-2, Llama 3, Qwen, SmolLM2, ...) split on whitespace before merging, and
  SentencePiece splits on it by default. Chat templates only add tokens, except those
  that drop the reasoning of earlier turns, so `<think>...</think>` blocks in assistant
  messages are not counted. The control plane checks the bound against the engine's
  count of every job it completes and stops relying on it for a model the moment one
  count falls below it (controlplane/jobs/context.py).
- `upper`: each token covers at least one byte of text (byte-level BPE, SentencePiece
  with byte fallback), plus what the chat template adds: at most `TEMPLATE_PER_MESSAGE`
  tokens per message (role markers, separators, a SentencePiece space) and
  `TEMPLATE_FIXED` once (BOS, the generation prompt, a short default system prompt). A
  template that injects more than that breaks the bound. This is also what a client is
  held for and the most a node's usage claim is believed (controlplane/money/bounds.py).

English prose runs about 1.3 tokens per word and 4 bytes per token, so `lower` is some
three quarters of the real count and `upper` some four times it: enough to refuse a
prompt that certainly cannot fit and to see one that certainly can, and the exact answer
for everything between comes from the engine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

TEMPLATE_FIXED = 64
TEMPLATE_PER_MESSAGE = 16
# No vocabulary we know of has a token longer than this many bytes (SmolLM2's longest is
# 32: a run of 32 underscores); a word longer than it needs more than one token.
MAX_TOKEN_BYTES = 256
_REASONING = re.compile(r"<think>.*?</think>", re.DOTALL)


class Message(Protocol):
    """A chat message as the wire and the backends both carry it."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PromptBounds:
    """The prompt's token count lies in [lower, upper]; equal when an engine counted it."""

    lower: int
    upper: int

    @classmethod
    def exact(cls, tokens: int) -> PromptBounds:
        return cls(tokens, tokens)

    @property
    def is_exact(self) -> bool:
        return self.lower == self.upper


def _words_lower(text: str) -> int:
    return sum(max(1, math.ceil(len(word.encode()) / MAX_TOKEN_BYTES)) for word in text.split())


def prompt_bounds(messages: Iterable[Message]) -> PromptBounds:
    """Bounds on the tokens `messages` take once the model's chat template renders them."""
    lower = upper = 0
    count = 0
    for message in messages:
        count += 1
        text = message.content
        counted = _REASONING.sub(" ", text) if message.role == "assistant" else text
        lower += _words_lower(counted)
        upper += len(text.encode()) + TEMPLATE_PER_MESSAGE
    return PromptBounds(lower, upper + TEMPLATE_FIXED if count else 0)
