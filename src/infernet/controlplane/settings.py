"""Control-plane settings: one object, built once and passed to `create_app`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from infernet.settlement.settings import SettlementSettings


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
    # A running job whose node sends nothing for this long is taken back and re-routed.
    stall_timeout_s: float = 60.0
    # Verification of what nodes serve (controlplane/verification/, docs/trust.md): the
    # platform's trusted engine per model (model name -> base URL of a llama-server-style
    # server; models without one are not checked), the share of the network's compute
    # checks may spend, and the mean seconds between hidden checks (0: none).
    verifier_urls: dict[str, str] = Field(default_factory=dict)
    verify_share: float = Field(default=0.05, ge=0, le=1)
    hidden_check_interval_s: float = Field(default=0.0, ge=0)
    # Attempts per job across nodes (first run + failovers) before it fails.
    max_attempts: int = 3
    # Prefix-aware routing (jobs/prefix_index.py): a node that probably holds the start of
    # a prompt in its cache is preferred while the balance rule allows. False: load only.
    prefix_routing: bool = True
    # Jobs waiting for a free node, across all models; beyond it: 503 no_capacity.
    max_waiting_jobs: int = 10_000
    # Offline notifications go to Slack's and Discord's own hosts only; hosts named here
    # are allowed too (any scheme and port), e.g. a Slack-compatible Mattermost.
    webhook_hosts: list[str] = Field(default_factory=list)

    # Money (Book §6.2-6.4): escrow, receipts, ledger. False = the Book's
    # PAYMENTS_ENABLED=false: jobs are tracked, nothing is held, charged or receipted.
    # Off for code that builds Settings() itself; `cp serve` and `infernet up` turn it on.
    payments_enabled: bool = False
    # The key that countersigns receipts; None: `platform.key` beside the SQLite database.
    platform_key_path: str | None = None
    # The Book's minimum a client must hold to submit a job, in USDC.
    min_balance_usdc: str = "1.00"
    # POST /api/v1/billing/deposits credits the ledger directly (no chain is reachable).
    ledger_only_deposits: bool = True
    # Any key holder may credit its own balance that way: only for a local demo (`infernet
    # up` turns it on); otherwise crediting a balance is an admin action.
    open_deposits: bool = False
    # `GET /metrics` asks for `Authorization: Bearer <this>` when set (its per-node series
    # name node ids and earnings); unset, it is open like `/healthz`.
    metrics_token: str | None = None

    # Platform admins (Book ADV-02): account ids that may act on any node (queue commands,
    # set prices, approve, revoke, see private details) and credit any balance. Set with
    # `infernet cp serve --admin ACCOUNT_ID` (repeatable) or INFERNET_ADMIN_ACCOUNTS.
    admin_accounts: list[str] = Field(default_factory=list)
    # How money enters and leaves: "ledger" (no chain; the deposit form above) or "evm"
    # (USDC deposits and payouts on one chain; the form is refused): settlement/settings.py.
    settlement: SettlementSettings = Field(default_factory=SettlementSettings)

    # Several replicas (docs/deploy.md): Redis carries what crosses them (token streams,
    # dispatch, node hot state, slots, rate limits, nonces). None: one process, in memory.
    redis_url: str | None = None
    # This replica's name in the cluster; None: a fresh random one at each start.
    replica_id: str | None = None
    # A replica holds each of its unfinished jobs by a lease it renews every second; a
    # job whose lease ran out this long is taken over by another replica.
    lease_ttl_s: float = Field(default=15.0, gt=0)

    # Open-market training (controlplane/training/): shards and adapters are kept in
    # `training_dir` (None: `training/` beside the SQLite database, else
    # ~/.infernet/training; replicas must share it). A claim lapses unless its node renews
    # it within `training_claim_ttl_s`; a shard is offered `training_max_attempts` times;
    # a reported eval loss must be reproduced within `training_loss_tolerance` (relative).
    training_dir: str | None = None
    training_claim_ttl_s: float = Field(default=120.0, gt=0)
    training_max_attempts: int = Field(default=3, ge=1)
    training_loss_tolerance: float = Field(default=0.05, gt=0, lt=1)
    training_verify_timeout_s: float = Field(default=1800.0, gt=0)
    # Shard and adapter uploads (PUT /api/v1/training/...) may be this large.
    training_upload_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1)

    @property
    def ledger_credits(self) -> bool:
        """Whether the deposit form credits the ledger (ledger settlement, not turned off)."""
        return self.ledger_only_deposits and self.settlement.mode == "ledger"

    @property
    def offline_after_s(self) -> float:
        return self.heartbeat_interval_s * self.missed_beats_offline
