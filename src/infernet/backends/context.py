"""The context an engine runs a model with, and its refusal of a prompt that does not fit.

vLLM, SGLang and MAX report the context on their `/v1/models` cards as `max_model_len`
(`model_cards`); llama.cpp and Ollama are read in their adapters.

Every engine refuses an over-long prompt differently, and each refusal is read into one
`ContextLengthExceeded` with the engine's own numbers (prompt and context tokens) where
it gives them:

- llama.cpp `llama-server` (`server-context.cpp`): 400 `{"error": {"type":
  "exceed_context_size_error", "message": "request (N tokens) exceeds the available
  context size (M tokens), try increasing it", "n_prompt_tokens": N, "n_ctx": M}}`;
  Infernet's embedded engine answers the same; llama-cpp-python's own server raises
  `ValueError: Requested tokens (N) exceed context window of M` (a 500).
- Ollama, asked with `truncate: false`: that llama.cpp body as a string in `{"error": ...}`.
- vLLM (`serving_engine`/`renderers`): 400 `"This model's maximum context length is M
  tokens. However, your request has N input tokens..."`, `"'max_tokens' ... is too
  large: X. This model's maximum context length is M tokens and your request has N input
  tokens (X > M - N)."`, `"... you requested X output tokens and your prompt contains at
  least N input tokens ..."`, or the v1 processor's `"The decoder prompt (length N) is
  longer than the maximum model length of M"`.
- SGLang (`tokenizer_manager._validate_one_request`): 400 `"The input (N tokens) is longer
  than the model's context length (M tokens)."` or `"Requested token count exceeds the
  model's maximum context length of M tokens. You requested a total of T tokens: N tokens
  from the input messages and X tokens for the completion..."`.
- MAX (`pipelines/context/exceptions.PromptTooLongError`): 400 `"Prompt is too long: N
  tokens exceeds the configured maximum context length of M tokens..."`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from infernet.backends.base import InstalledModel
from infernet.backends.errors import BackendError, ContextLengthExceeded

# (pattern, True when the first number is the prompt and the second the context)
_COUNTED: tuple[tuple[re.Pattern[str], bool], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), prompt_first)
    for pattern, prompt_first in (
        (r"request \((\d+) tokens\) exceeds (?:the available )?context size \((\d+)", True),
        (r"input \((\d+) tokens\) is larger than the max context size \((\d+) tokens\)", True),
        (r"requested tokens \((\d+)\) exceed context window of (\d+)", True),
        (r"prompt is too long: (\d+) tokens exceeds the [\w ]*context length of (\d+)", True),
        (r"the input \((\d+) tokens\) is longer than the model's context length \((\d+)", True),
        (r"decoder prompt \(length (\d+)\) is longer than the maximum model length of (\d+)", True),
        (r"maximum context length of (\d+) tokens\. you requested a total of \d+ tokens: "
         r"(\d+) tokens from the input", False),
        (r"maximum context length is (\d+) tokens and your request has (\d+) input tokens", False),
        (r"maximum context length is (\d+) tokens\. however, your request has (\d+) input", False),
        (r"maximum context length is (\d+) tokens\. however, you requested \d+ output tokens "
         r"and your prompt contains (?:at least )?(\d+) input tokens", False),
        (r"maximum context length is (\d+) tokens\. however, you requested \d+ tokens \((\d+) "
         r"in the messages", False),
    )
)  # fmt: skip
_UNCOUNTED = re.compile(
    r"exceed_context_size_error|context_length_exceeded|maximum context length|"
    r"exceeds the available context size|longer than the model's context length",
    re.IGNORECASE,
)


def _texts(body: Any) -> list[str]:
    """Every string in an error body, JSON nested in strings included (Ollama wraps the
    runner's JSON error in a string)."""
    if isinstance(body, dict):
        return [text for value in body.values() for text in _texts(value)]
    if isinstance(body, list):
        return [text for value in body for text in _texts(value)]
    if isinstance(body, str):
        stripped = body.strip()
        if stripped[:1] in ("{", "["):
            try:
                return _texts(json.loads(stripped))
            except json.JSONDecodeError:
                pass
        return [body]
    return []


def _llamacpp_fields(body: Any) -> tuple[int, int] | None:
    if isinstance(body, dict):
        prompt, context = body.get("n_prompt_tokens"), body.get("n_ctx")
        if isinstance(prompt, int) and isinstance(context, int):
            return prompt, context
        for value in body.values():
            if (found := _llamacpp_fields(value)) is not None:
                return found
    if isinstance(body, str) and body.strip().startswith("{"):
        try:
            return _llamacpp_fields(json.loads(body))
        except json.JSONDecodeError:
            return None
    return None


def context_error(body: str | dict[str, Any]) -> ContextLengthExceeded | None:
    """The context refusal an engine's error body (text or parsed JSON) stands for, or
    None when it is some other error."""
    parsed: Any = body
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            parsed = body
    texts = _texts(parsed)
    counted = [t for t in texts if _count(t)]
    said = next(iter(counted), None) or next((t for t in texts if _UNCOUNTED.search(t)), None)
    if said is None:
        return None
    counts = _llamacpp_fields(parsed) or (_count(counted[0]) if counted else None)
    prompt, context = counts if counts else (None, None)
    return ContextLengthExceeded(f"the engine refused the prompt: {said[:300]}", prompt, context)


def _count(text: str) -> tuple[int, int] | None:
    for pattern, prompt_first in _COUNTED:
        if match := pattern.search(text):
            first, second = int(match.group(1)), int(match.group(2))
            return (first, second) if prompt_first else (second, first)
    return None


def model_cards(body: object, host: str) -> list[InstalledModel]:
    """The models in an OpenAI `/v1/models` answer, with the context each runs with: the
    card's `max_model_len` (vLLM, SGLang and MAX all report it)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise BackendError(f"{host}/v1/models answered without a `data` list: {body!r:.200}")
    cards = [card for card in data if isinstance(card, dict) and "id" in card]
    return [
        InstalledModel(str(card["id"]), None, True, _positive(card.get("max_model_len")))
        for card in cards
    ]


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
