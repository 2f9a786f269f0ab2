"""OpenAI's request and response shapes for `/v1` (chat completions, completions, models).

Requests accept what Infernet can honour: sampling (`temperature`, `top_p`, `seed`,
`stop`), length (`max_tokens` / `max_completion_tokens`), streaming with
`stream_options.include_usage`, and `user`, which names the session whose jobs go back to
the node holding its conversation (jobs/prefix_index.py), and Infernet's routing
extensions `provider` and `models` (jobs/preferences.py). `store`, `metadata`,
`service_tier` and `parallel_tool_calls` are accepted and ignored. OpenAI parameters
Infernet does not implement (tools, penalties, logprobs, response formats, n > 1, ...) are
refused with a 400 naming them, unless sent at their neutral value; anything else unknown
is refused too.
Defaults follow OpenAI's (temperature 1), except `max_tokens`: 512 when not given.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_serializer,
    model_validator,
)

from infernet.controlplane.schemas.jobs import RoutingPreferences

IGNORED = ("store", "metadata", "service_tier", "parallel_tool_calls")
# Parameter -> the values that mean "not used", which are accepted.
NEUTRAL: dict[str, tuple[object, ...]] = {
    "frequency_penalty": (0, None),
    "presence_penalty": (0, None),
    "logprobs": (False, None),
    "top_logprobs": (0, None),
    "logit_bias": ({}, None),
    "tools": ([], None),
    "tool_choice": ("none", None),
    "functions": ([], None),
    "function_call": ("none", None),
    "response_format": ({"type": "text"}, None),
    "echo": (False, None),
    "suffix": ("", None),
    "best_of": (1, None),
}
DEFAULT_MAX_TOKENS = 512


def _drop_neutral(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    for name, neutral in NEUTRAL.items():
        if name in data:
            if data[name] not in neutral:
                raise ValueError(
                    f"'{name}' is not supported by Infernet; leave it out "
                    f"(supported: model, messages or prompt, temperature, top_p, max_tokens, "
                    f"stop, seed, stream, stream_options)"
                )
            data = {k: v for k, v in data.items() if k != name}
    return {k: v for k, v in data.items() if k not in IGNORED}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: StrictBool = False


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=300)
    # Strict, as OpenAI's API is: "10", true or "yes" for a number or flag is refused.
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, strict=True)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, strict=True)
    max_tokens: int | None = Field(default=None, ge=1, strict=True)
    stop: str | list[str] | None = None
    seed: StrictInt | None = None
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    n: StrictInt | None = 1
    user: str | None = Field(default=None, max_length=256)
    # Infernet's extensions (ignored by OpenAI clients that do not send them): routing
    # preferences, and models to fall back to in order (schemas/jobs.py).
    provider: RoutingPreferences | None = None
    models: list[str] | None = Field(default=None, max_length=5)

    @model_validator(mode="before")
    @classmethod
    def _unsupported(cls, data: Any) -> Any:
        return _drop_neutral(data)

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise ValueError("only n=1 is supported: send one request per choice you need")
        return value

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """A message as OpenAI clients send it; `developer` counts as `system`, and content
    may be a list of text parts (images and audio are not supported)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatCompletionRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    max_completion_tokens: int | None = Field(default=None, ge=1, strict=True)

    @property
    def token_limit(self) -> tuple[int, str]:
        """The most tokens to generate, and the field it came from (for messages)."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens, "max_completion_tokens"
        return self.max_tokens or DEFAULT_MAX_TOKENS, "max_tokens"


class CompletionRequest(_Request):
    """The legacy completions API. The prompt is sent to the model as one user message
    (the model's chat template applies): there is no raw-text completion."""

    prompt: str | list[str]

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("send exactly one prompt per request (a string)")
        return value

    @property
    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


# --- responses -----------------------------------------------------------------------

FinishReason = Literal["stop", "length"]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    logprobs: None = None
    finish_reason: FinishReason


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer
    def _present_only(self) -> dict[str, str]:
        return {k: v for k, v in (("role", self.role), ("content", self.content)) if v is not None}


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    logprobs: None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: None = None
    choices: list[ChunkChoice]
    usage: Usage | None = None  # sent (null until the last chunk) with include_usage only


class CompletionChoice(BaseModel):
    text: str
    index: int = 0
    logprobs: None = None
    finish_reason: FinishReason | None = None


class Completion(BaseModel):
    """A completion, and (object the same) each chunk of a streamed one."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: None = None
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "infernet"
    # The largest context (tokens, prompt and answer) an online node runs it with, under
    # the name vLLM, SGLang and MAX give it on their own cards; null when no node says.
    max_model_len: int | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    code: str | None
    param: str | None = None


class OpenAIError(BaseModel):
    """OpenAI's error shape, which every `/v1` error answers with."""

    error: OpenAIErrorBody
