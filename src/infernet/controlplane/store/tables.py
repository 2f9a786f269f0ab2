"""The system of record. SQLite by default (aiosqlite); PostgreSQL at scale (asyncpg)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(20), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    # Request limits of this key; NULL follows the control plane's defaults.
    Column("requests_per_minute", Integer),
    Column("requests_per_hour", Integer),
)

invites = Table(
    "invites",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("note", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("used_by", ForeignKey("accounts.id")),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("account_id", ForeignKey("accounts.id"), index=True),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_heartbeat_at", DateTime(timezone=True)),
    Column("version", String(40)),
    Column("backend", String(20)),
    Column("vram_tier", String(10)),
    Column("served_models", JSON, nullable=False, default=list),
    Column("revoked", Boolean, nullable=False, default=False),
    # Trust (Book §4.1, §6.5): owner approval on private networks, revocation, and the
    # user key that delegated this node key (with the signed delegation, for audit).
    Column("approved", Boolean, nullable=False, default=True),
    Column("revoked_at", DateTime(timezone=True)),
    Column("user_pubkey", String(64), index=True),
    Column("delegation", JSON),
    # Claims the control plane caught above what it can check (jobs/claims.py): how many,
    # and the latest one's reason and time. Shown to the owner; the router penalizes them.
    Column("offences", Integer, nullable=False, default=0, server_default="0"),
    Column("last_offence", Text),
    Column("last_offence_at", DateTime(timezone=True)),
)

# One-time node registration tokens `inft_reg_...` (Book §2.4), stored only as SHA-256.
registration_tokens = Table(
    "registration_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(20), nullable=False),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("used_by_node_id", String(40)),
)

# Node keys replaced by `infernet keys rotate`: still accepted until `valid_until`.
retired_node_keys = Table(
    "retired_node_keys",
    metadata,
    Column("public_key", String(64), primary_key=True),
    Column("node_id", ForeignKey("nodes.id"), nullable=False, index=True),
    Column("replaced_by", String(64), nullable=False),
    Column("retired_at", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("model", String(300), nullable=False),
    Column("routing_key", String(300), nullable=False, index=True),  # a model's history
    Column("status", String(20), nullable=False, index=True),
    Column("node_id", String(40), index=True),
    Column("request", JSON, nullable=False),
    Column("content", Text),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("usage_source", String(20)),
    Column("finish_reason", String(20)),
    Column("error", String(40)),
    Column("error_message", Text),
    Column("attempts", Integer, nullable=False, default=0),
    # What each node produced: [{node_id, attempt, prompt_tokens, completion_tokens, ...}]
    Column("segments", JSON),
    # The model key's signature over the final attempt's text: {model_pubkey, signature,
    # attempt, verified} (Book §6.5 provenance); null when the node sent none.
    Column("provenance", JSON),
    # Why the last attempt's node was chosen (jobs/placement.py): {reason: load | cache |
    # session, cached_chars, prefill_saved_s}.
    Column("routing", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("latency_ms", Float),
    # The replica running this job, until when (renewed while it lives). With several
    # replicas, an expired lease is claimed by another (SELECT ... FOR UPDATE SKIP LOCKED).
    Column("lease_owner", String(40)),
    Column("lease_expires_at", DateTime(timezone=True), index=True),
)

# The pieces of each job's token stream, numbered as streamed (the SSE ids), written in
# batches before any reader sees them (jobs/journal.py): a restart resumes a stream from
# them exactly and a new node continues the answer. Kept a while after the job ends (for
# Last-Event-ID), then deleted; replicas keep streams in Redis. A row: a job's pieces
# stored together, `seq` the first's number, `texts` a JSON array (store/pieces.py).
job_piece_runs = Table(
    "job_piece_runs",
    metadata,
    Column("job_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("texts", Text, nullable=False),
)

# Nonces of signed node requests (protocol/signing.py), kept for their time-to-live so a
# replay is refused after a restart too. The key is `<node public key>:<nonce>`.
auth_nonces = Table(
    "auth_nonces",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# Model-management commands queued for a node (Book 3.3): delivered in heartbeat responses
# until the node acknowledges them done or failed.
node_commands = Table(
    "node_commands",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("node_id", ForeignKey("nodes.id"), nullable=False, index=True),
    # Who queued it: its owner's (or an admin's) account; NULL: the node itself (signed).
    Column("account_id", ForeignKey("accounts.id"), nullable=True, index=True),
    Column("type", String(20), nullable=False),
    Column("model", String(300), nullable=False),
    Column("status", String(20), nullable=False, index=True),  # pending|running|done|failed
    Column("error", Text),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
)

# --- money (Book §6.2-6.4, §8.4-8.6): amounts are integer micro-USDC, never floats ---------

# Operator prices per node and model routing key, per 1K tokens (micro-USDC).
node_prices = Table(
    "node_prices",
    metadata,
    Column("node_id", ForeignKey("nodes.id"), primary_key=True),
    Column("routing_key", String(300), primary_key=True),
    Column("model", String(300), nullable=False),  # the name the operator gave
    Column("input_micros_per_1k", BigInteger, nullable=False),
    Column("output_micros_per_1k", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Double-entry ledger: every transaction's postings sum to zero across accounts.
ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("job_id", String(40), index=True),
    Column("memo", Text, nullable=False, default=""),
    Column("usage_source", String(60)),  # e.g. "backend", "stream_count+backend"
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("transaction_id", ForeignKey("ledger_transactions.id"), nullable=False, index=True),
    Column("account", String(120), nullable=False, index=True),
    Column("micros", BigInteger, nullable=False),
)

ledger_balances = Table(
    "ledger_balances",
    metadata,
    Column("account", String(120), primary_key=True),
    Column("micros", BigInteger, nullable=False),
)

# Compute Payment Receipts: one per completed job segment, node-signed and countersigned.
receipts = Table(
    "receipts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("job_id", String(40), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("node_id", String(40), nullable=False, index=True),
    Column("account_id", String(40), nullable=False, index=True),
    Column("fields", JSON, nullable=False),  # the signed receipt, as the node sent it
    Column("platform_signature", String(128), nullable=False),
    Column("client_signature", String(128)),
    Column("usage_source", String(20), nullable=False),
    Column("status", String(20), nullable=False),  # countersigned | claimed
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Where an operator wants payouts sent (per coin and network); the latest is the default.
payout_addresses = Table(
    "payout_addresses",
    metadata,
    Column("owner", String(40), primary_key=True),  # account id, or node id if unowned
    Column("coin", String(10), primary_key=True),
    Column("network", String(20), primary_key=True),
    Column("address", String(100), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

payout_requests = Table(
    "payout_requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("owner", String(40), nullable=False, index=True),
    Column("micros", BigInteger, nullable=False),
    Column("coin", String(10), nullable=False),
    Column("network", String(20), nullable=False),
    Column("address", String(100), nullable=False),
    Column("status", String(20), nullable=False),  # pending | sent | confirmed | failed
    Column("detail", Text, nullable=False, default=""),
    Column("tx_hash", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # On chain (settlement evm): the block that paid it, and when it was confirmed.
    Column("block_number", BigInteger),
    Column("confirmed_at", DateTime(timezone=True)),
)

# A client account's optional secp256k1 key: receipts for its jobs then name it, and the
# client can countersign them (POST /api/v1/cprs/{id}/sign), beyond the Book.
client_keys = Table(
    "client_keys",
    metadata,
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# --- dashboard (controlplane/dashboard/): browser sign-in and notifications ---------------

# Email + password sign-in for an account (scrypt hash); API-key sign-in needs no row.
dashboard_logins = Table(
    "dashboard_logins",
    metadata,
    Column("email", String(254), primary_key=True),  # lower-cased
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("password_hash", String(300), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Browser sessions: the cookie carries a random token (HMAC-signed); only its SHA-256 is kept.
# `id` names a session to its account (list, end); `key_id` is the API key it was opened
# with (revoking the key ends it); `expires_at` slides forward while it is used.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("key_id", String(40), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Slack / Discord webhooks an account wants told when one of its nodes goes offline.
notification_webhooks = Table(
    "notification_webhooks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # slack | discord
    Column("url", String(500), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_status", String(200)),  # the last delivery's outcome, shown in Settings
)

# --- open-market training (controlplane/training/, Book §9.4 C3) ------------------------

# A federated LoRA fine-tune a client submitted: its frozen settings, its budget (held in
# escrow), and how it ended. Shard files and adapters live in Settings.training_dir.
training_jobs = Table(
    "training_jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("base_model", String(300), nullable=False),
    Column("config", JSON, nullable=False),  # infernet.train.yml as the submitter froze it
    Column("status", String(20), nullable=False, index=True),  # uploading|open|done|partial|failed
    Column("shard_count", Integer, nullable=False),
    Column("examples", Integer, nullable=False),
    Column("budget_micros", BigInteger, nullable=False),
    Column("max_nodes", Integer, nullable=False),
    Column("min_vram_gb", Float, nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False, index=True),
    Column("detail", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)

# One slice of a job's dataset; trained by one node at a time, paid once.
training_shards = Table(
    "training_shards",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("job_id", ForeignKey("training_jobs.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("examples", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("pay_micros", BigInteger, nullable=False),
    # awaiting_upload | open | claimed | reported | accepted | failed
    Column("status", String(20), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claim_id", String(40)),  # the claim now holding it
    Column("claim_expires_at", DateTime(timezone=True), index=True),
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Every claim a node made on a shard, and what became of it (the audit trail of pay).
training_claims = Table(
    "training_claims",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("shard_id", ForeignKey("training_shards.id"), nullable=False, index=True),
    Column("job_id", String(40), nullable=False, index=True),
    Column("node_id", String(40), nullable=False, index=True),
    # active | expired | released | reported | verifying | accepted | rejected | unverified
    Column("status", String(20), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("reported_at", DateTime(timezone=True)),
    Column("decided_at", DateTime(timezone=True)),
    Column("adapter_sha256", String(64)),
    Column("adapter_bytes", BigInteger),
    Column("steps", Integer),
    Column("loss_before", Float),  # eval loss on the shard's held-out lines, as reported
    Column("loss_after", Float),
    Column("verified_before", Float),  # the same, as the verifier measured it
    Column("verified_after", Float),
    Column("verify_started_at", DateTime(timezone=True)),
    Column("verify_tries", Integer, nullable=False, default=0),
    Column("receipt", JSON),  # the node-signed training receipt; countersigned once paid
    Column("detail", Text, nullable=False, default=""),
)

# Settlement, verification and node-sample tables are in their own modules, on this
# `metadata`; imported last, so they see the tables above.
from infernet.controlplane.store import (  # noqa: E402, F401
    sample_tables,
    settlement_tables,
    verification_tables,
)
