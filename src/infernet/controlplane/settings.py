"""Control-plane settings: one object, built once and passed to `create_app`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Settings(BaseModel):
    database_url: str = "sqlite+aiosqlite:///infernet.db"
    public_url: str = "http://127.0.0.1:8700"
    heartbeat_interval_s: float = Field(default=30.0, gt=0)
    # Three missed beats make a node offline (the Book's 90 s).
    missed_beats_offline: int = 3
    job_timeout_s: float = 300.0
    sse_keepalive_s: float = 15.0
    # Nodes: False requires a one-time registration token (`inft_reg_...`) to register.
    open_registration: bool = True
    # Private networks (Book §9.2 REQUIRE_NODE_APPROVAL): new nodes wait for their owner's
    # approval and get no jobs until then.
    require_node_approval: bool = False
    registration_token_ttl_s: float = Field(default=24 * 3600.0, gt=0)
    # After `infernet keys rotate` the old node key keeps working this long (Book: 24 h).
    key_rotation_grace_s: float = Field(default=24 * 3600.0, ge=0)
    max_body_bytes: int = 1_000_000
    max_tokens_limit: int = 32_768
    # Client accounts: open sign-up, or only with an invite code (`infernet cp invite`).
    require_invite: bool = False
    signups_per_hour_per_ip: int = Field(default=20, ge=1)
    # Per API key request limits (Book §5.1); a key may ask for others up to the ceiling.
    key_requests_per_minute: int = Field(default=60, ge=1)
    key_requests_per_hour: int = Field(default=1000, ge=1)
    key_max_requests_per_minute: int = Field(default=600, ge=1)
    key_max_requests_per_hour: int = Field(default=20_000, ge=1)
    # OpenAI-compatible /v1: names clients send (e.g. "gpt-4o-mini") -> a model nodes serve.
    model_aliases: dict[str, str] = Field(default_factory=dict)
    # Client accounts: open sign-up, or only with an invite code (`infernet cp invite`).
    require_invite: bool = False
    signups_per_hour_per_ip: int = Field(default=20, ge=1)
    # Per API key request limits (Book §5.1); a key may ask for others up to the ceiling.
    key_requests_per_minute: int = Field(default=60, ge=1)
    key_requests_per_hour: int = Field(default=1000, ge=1)
    key_max_requests_per_minute: int = Field(default=600, ge=1)
    key_max_requests_per_hour: int = Field(default=20_000, ge=1)
    # OpenAI-compatible /v1: names clients send (e.g. "gpt-4o-mini") -> a model nodes serve.
    model_aliases: dict[str, str] = Field(default_factory=dict)
    # A running job whose node sends nothing for this long is taken back and re-routed.
    stall_timeout_s: float = 60.0
    # Attempts per job across nodes (first run + failovers) before it fails.
    max_attempts: int = 3
    # Jobs waiting for a free node, across all models; beyond it: 503 no_capacity.
    max_waiting_jobs: int = 10_000

    @property
    def offline_after_s(self) -> float:
        return self.heartbeat_interval_s * self.missed_beats_offline
