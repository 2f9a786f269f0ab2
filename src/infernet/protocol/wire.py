"""Messages on the wire between a node daemon and the control plane.

HTTP (signed with X-Infernet-Auth): registration and the 30 s heartbeat, whose response
carries queued commands. WebSocket (one outbound connection per node, the job channel):
the control plane pushes `JobAssignment`s down it; the node opens it with a `NodeHello`,
streams its tokens (`JobTokens`: those that queued while the channel was busy travel in one
frame, each still its own piece; `JobToken`, one piece, from older nodes) and ends each
job with exactly one `JobDone` or `JobFailed`. A node with its channel open beats over it
(`NodeBeat`, answered by a `BeatReply`): the channel was authenticated once, at its signed
handshake, so a beat costs no HTTP request or signature check. Every message is a JSON
object with a `type` discriminator.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, StrictInt, TypeAdapter

from infernet.protocol.delegation import ModelKeyStatement, NodeDelegation
from infernet.protocol.receipts import Receipt
from infernet.protocol.tiers import Tier

NODE_CHANNEL_PATH = "/api/v1/node/channel"
# JobFailed.error when the prompt does not fit the context the engine runs the model with:
# the client's to fix, never the node's fault (the control plane answers 400 with it).
CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# A count a node reports: a JSON integer, never negative, never 1.5, "5" or true.
Count = Annotated[NonNegativeInt, Field(strict=True)]


class GpuSummary(WireModel):
    """Coarse capability data only: no hostname, no CPU model, no serial numbers."""

    vendor: str
    name: str
    vram_mb: int
    utilization_pct: float | None = None
    memory_used_mb: int | None = None


class NodeLoad(WireModel):
    active_jobs: int = 0
    max_concurrent_jobs: int = 1


class RegisterRequest(WireModel):
    public_key: str
    name: str = ""
    registration_token: str | None = None
    # The operator's user key authorizing this node key (Book §6.5); verified on register.
    delegation: NodeDelegation | None = None


class RegisterResponse(WireModel):
    node_id: str
    status: str  # "registered", or "pending_approval" on networks that need approval
    account_id: str | None = None
    # How often the control plane wants heartbeats (as in every HeartbeatResponse), so a
    # node paces its very first beats right; None from control planes that do not say.
    heartbeat_interval_s: float | None = None


class RotateKeyResponse(WireModel):
    """Answer to `POST /api/v1/node/rotate-key`: the node now answers to `public_key`."""

    node_id: str
    public_key: str
    old_key_valid_until: str


class ServedModel(WireModel):
    """A model the node serves: its name on this node's backend, and whether it is hot."""

    name: str
    loaded: bool = True
    size_bytes: int | None = None
    # Tokens the engine runs this model with: the most one request's prompt plus answer
    # can take (llama.cpp n_ctx, vLLM/SGLang/MAX max_model_len, the num_ctx this node
    # gives Ollama). None: the engine does not say.
    context_length: int | None = Field(default=None, ge=1)
    # The node key's statement authorizing this model's key: what confidential clients
    # encrypt to (GET /api/v1/models/{model}/keys lists it).
    model_key: ModelKeyStatement | None = None


class Heartbeat(WireModel):
    version: str
    backend: str
    backend_healthy: bool
    backend_detail: str = ""
    served_models: list[ServedModel]
    vram_tier: Tier = "cpu"
    gpus: list[GpuSummary] = Field(default_factory=list)
    load: NodeLoad = NodeLoad()
    payout_address: str | None = None
    payout_chain: str | None = None
    # The node is draining (before an upgrade or restart): route it no new jobs.
    draining: bool = False


CommandType = Literal["model_install", "model_remove"]
MODEL_INSTALL: CommandType = "model_install"
MODEL_REMOVE: CommandType = "model_remove"


class Command(WireModel):
    id: str
    type: CommandType
    model: str
    issued_at: str


class HeartbeatResponse(WireModel):
    node_id: str
    status: str
    heartbeat_interval_s: float
    commands: list[Command] = Field(default_factory=list)


class CommandAck(WireModel):
    """The node's report on a command (`POST /api/v1/node/commands/{id}/ack`, signed):
    `running` when it starts, then `done`, or `failed` with the reason in `error`."""

    status: Literal["running", "done", "failed"]
    error: str | None = None
    detail: str = ""


# --- job channel ---------------------------------------------------------------------


class ChatMessageIn(WireModel):
    role: Literal["system", "user", "assistant"]
    content: str


class EncryptedPrompt(WireModel):
    """A confidential job's prompt (Book §6.6): NIP-44 v2 `ciphertext` of the JSON
    `{"messages": [...]}`, encrypted with the conversation key of `client_pubkey` and
    `model_pubkey` (x-only hex). Only the holder of the model key can read it; the answer
    comes back encrypted with the same conversation key (protocol/confidential.py)."""

    client_pubkey: str = Field(pattern=r"^[0-9a-f]{64}$")
    model_pubkey: str = Field(pattern=r"^[0-9a-f]{64}$")
    ciphertext: str = Field(min_length=1, max_length=2_000_000)


class JobAssignment(WireModel):
    type: Literal["job"] = "job"
    job_id: str
    attempt: int = 1
    model: str  # the model's name on the receiving node's backend
    messages: list[ChatMessageIn]
    max_tokens: int
    temperature: float
    top_p: float
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    # What this node charges for this job (USDC per 1K tokens, decimal strings) and what
    # its receipt must name; absent when the control plane runs without payments, and
    # then the node signs no receipt.
    price_input_per_1k: str | None = None
    price_output_per_1k: str | None = None
    client_pubkey: str | None = None
    chain: str = "base"
    # Confidential job: `messages` is empty and the prompt is here, encrypted.
    encrypted: EncryptedPrompt | None = None


class JobCancel(WireModel):
    type: Literal["cancel"] = "cancel"
    job_id: str
    attempt: int | None = None  # only this attempt (None: whichever runs)


class JobToken(WireModel):
    """One piece of an attempt's answer (what nodes sent before `JobTokens`)."""

    type: Literal["token"] = "token"
    job_id: str
    attempt: StrictInt = 1
    text: str

    @property
    def texts(self) -> list[str]:
        return [self.text]


class JobTokens(WireModel):
    """Consecutive pieces of an attempt's answer, in order, each one token as the engine
    gave it (a client still gets them as separate chunks)."""

    type: Literal["tokens"] = "tokens"
    job_id: str
    attempt: StrictInt = 1
    texts: list[str] = Field(min_length=1)


class UsageReport(WireModel):
    """What a node claims its attempt used: checked against what the control plane can
    bound before anyone is charged (controlplane/jobs/claims.py)."""

    prompt_tokens: Count
    completion_tokens: Count
    source: Literal["backend", "tokenizer"] = "backend"


class Provenance(WireModel):
    """The model key's signature over this attempt's text (protocol/provenance.py), with
    the node key's statement authorizing that model key."""

    model_pubkey: str
    signature: str
    model_key: ModelKeyStatement | None = None


class JobDone(WireModel):
    type: Literal["done"] = "done"
    job_id: str
    attempt: StrictInt = 1
    usage: UsageReport
    finish_reason: str = "stop"
    provenance: Provenance | None = None
    # The node-signed Compute Payment Receipt over this attempt's real usage (Book §6.2).
    receipt: Receipt | None = None


class JobFailed(WireModel):
    type: Literal["failed"] = "failed"
    job_id: str
    attempt: StrictInt = 1
    error: str
    message: str
    # With CONTEXT_LENGTH_EXCEEDED: the engine's own count of the prompt and the context
    # it has for the model (None where the engine's refusal did not say).
    prompt_tokens: Count | None = None
    context_length: Count | None = None


class RunningAttempt(WireModel):
    job_id: str
    attempt: int


class NodeHello(WireModel):
    """The node's first message on a job channel it (re)opened: its state, as in a
    heartbeat, so the control plane routes to it at once (even one that just restarted
    and has not heard a heartbeat yet), and the attempts it is still running, so one
    the control plane no longer counts on is stopped (and never confused with a new
    attempt of the same job)."""

    type: Literal["hello"] = "hello"
    heartbeat: Heartbeat
    running: list[RunningAttempt] = Field(default_factory=list)


class NodeBeat(WireModel):
    """A heartbeat over the job channel (the node's key signed the channel's handshake)."""

    type: Literal["beat"] = "beat"
    heartbeat: Heartbeat


class BeatReply(WireModel):
    """The control plane's answer to a `NodeBeat`: what `POST /api/v1/heartbeat` answers."""

    type: Literal["beat_reply"] = "beat_reply"
    reply: HeartbeatResponse


ToNodeMessage = JobAssignment | JobCancel | BeatReply
FromNodeMessage = JobToken | JobTokens | JobDone | JobFailed | NodeHello | NodeBeat
ToNode = Annotated[ToNodeMessage, Field(discriminator="type")]
FromNode = Annotated[FromNodeMessage, Field(discriminator="type")]
to_node_adapter: TypeAdapter[ToNodeMessage] = TypeAdapter(ToNode)
from_node_adapter: TypeAdapter[FromNodeMessage] = TypeAdapter(FromNode)
