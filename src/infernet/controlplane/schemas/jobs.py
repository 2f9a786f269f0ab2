"""Jobs as clients submit and read them (Book §5.2–5.4)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from infernet.protocol.tiers import Tier
from infernet.protocol.wire import ChatMessageIn, EncryptedPrompt

JobStatus = Literal["pending", "processing", "completed", "failed"]
NODE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # what store/ids.py makes, and nothing else


class MaxPrice(BaseModel):
    """The most the client pays, USDC per 1K tokens (decimal strings or numbers)."""

    model_config = ConfigDict(extra="forbid")

    input_per_1k: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=6)
    output_per_1k: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=6)


class RoutingPreferences(BaseModel):
    """Which nodes may run a job, in the spirit of OpenRouter's `provider` object
    (jobs/preferences.py). Every field is optional; a job with none routes as usual."""

    model_config = ConfigDict(extra="forbid")

    max_price: MaxPrice | None = None
    # price: the cheapest node that can take it; throughput: the fastest measured;
    # latency: the soonest predicted first token (the router's own choice).
    sort: Literal["price", "latency", "throughput"] | None = None
    min_tier: Tier | None = None
    # Quantization levels (q4, q8, fp16, ... or a tag such as q4_k_m) the node's weights
    # must be in; a node whose model name says none is left out.
    quantizations: list[str] | None = Field(default=None, min_length=1, max_length=16)
    # Node ids or operators (the account that owns the nodes).
    only: list[str] | None = Field(default=None, min_length=1, max_length=64)
    ignore: list[str] | None = Field(default=None, max_length=64)
    # False: only the first node by `sort` runs the job (it waits for that node).
    allow_fallbacks: StrictBool = True

    @model_validator(mode="after")
    def _fallbacks_need_an_order(self) -> RoutingPreferences:
        if not self.allow_fallbacks and self.sort in (None, "latency"):
            raise ValueError(
                "allow_fallbacks: false needs sort (price or throughput) to say which node is first"
            )
        return self


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=300)
    # Exactly one of `messages` (plain) and `encrypted` (confidential, Book §6.6: pinned
    # with node_id to the node whose model key it is encrypted to).
    messages: list[ChatMessageIn] = Field(default_factory=list, max_length=1000)
    encrypted: EncryptedPrompt | None = None
    # Numbers and flags are strict: "10", true or "yes" for them is a mistake, refused
    # with the field named, never guessed at.
    max_tokens: int = Field(default=512, ge=1, strict=True)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0, strict=True)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, strict=True)
    stream: StrictBool = False
    node_id: str | None = Field(default=None, pattern=NODE_ID_PATTERN)
    stop: list[str] = Field(default_factory=list, max_length=4)
    seed: StrictInt | None = None
    # A conversation or end user the client names (OpenAI's `user`): its jobs go back to
    # the node that ran its last one, whose cache holds the conversation, while the
    # router's balance rule allows (jobs/prefix_index.py).
    session: str | None = Field(default=None, min_length=1, max_length=256)
    # Routing preferences, and models to try in order after `model` when it has no node
    # with room that meets them (never a model outside this list).
    provider: RoutingPreferences | None = None
    models: list[str] = Field(default_factory=list, max_length=5)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_prompt(self) -> JobCreate:
        if (self.encrypted is None) == (not self.messages):
            raise ValueError("send exactly one of `messages` and `encrypted`")
        if self.encrypted is not None and self.node_id is None:
            raise ValueError("an `encrypted` job needs `node_id`: the node whose key it is for")
        return self


class UsagePublic(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class JobResult(BaseModel):
    content: str
    usage: UsagePublic


class ProvenancePublic(BaseModel):
    """The model key's signature over the final attempt's text (Book §6.5): SHA-256 of
    canonical JSON {kind: "provenance", job_id, attempt, output_sha256}, BIP-340 Schnorr;
    `verified` when the control plane checked it and the node key's model-key statement."""

    model_pubkey: str
    signature: str
    attempt: int
    verified: bool


class RoutingPublic(BaseModel):
    """Why the node was chosen: `cache` when it probably held `cached_chars` characters of
    the prompt's start (saving about `prefill_saved_s` of prefill), `session` when it ran
    the client's session last, `load` when it was predicted to answer soonest anyway."""

    reason: Literal["load", "cache", "session"]
    cached_chars: int = 0
    prefill_saved_s: float = 0.0


class JobPublic(BaseModel):
    id: str
    status: JobStatus
    model: str
    created_at: str
    node_id: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    latency_ms: float | None = None
    result: JobResult | None = None
    error: str | None = None
    error_message: str | None = None
    queue_position: int | None = None
    # Compute Payment Receipts for this job, one per node segment (GET /api/v1/cprs/{id}).
    receipt_ids: list[str] = Field(default_factory=list)
    provenance: ProvenancePublic | None = None
    routing: RoutingPublic | None = None


class JobList(BaseModel):
    jobs: list[JobPublic]
