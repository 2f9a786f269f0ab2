"""Tables of on-chain settlement (settlement/store.py says what each keeps): deposit
addresses, the deposit watcher's checkpoints and the deposits it saw, the transactions
sent for payout claims and the hot wallet's nonces, and named leases (which replica runs
settlement for a network). Hashes and addresses are 0x-hex; amounts micro-USDC; fees wei.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from infernet.controlplane.store.tables import metadata

# Account i's deposit address is child i of the platform's deposit xpub; an index is
# never given twice (unique), so no two accounts share an address.
deposit_addresses = Table(
    "deposit_addresses",
    metadata,
    Column("network", String(20), primary_key=True),
    Column("account_id", String(40), primary_key=True),
    Column("idx", Integer, nullable=False),
    Column("address", String(42), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("network", "idx", name="uq_deposit_addresses_network_idx"),
)

# The newest blocks the deposit watcher finished (number and hash), to resume and to find
# where a re-organised chain forked.
chain_checkpoints = Table(
    "chain_checkpoints",
    metadata,
    Column("network", String(20), primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(66), nullable=False),
)

# USDC transfers to deposit addresses: unconfirmed | credited | reversed | dropped.
chain_deposits = Table(
    "chain_deposits",
    metadata,
    Column("key", String(120), primary_key=True),  # <network>:<tx hash>:<log index>
    Column("network", String(20), nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("position", Integer, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(66), nullable=False),
    Column("sender", String(42), nullable=False),
    Column("recipient", String(42), nullable=False),
    Column("micros", BigInteger, nullable=False),
    Column("account_id", String(40), nullable=False, index=True),
    Column("state", String(20), nullable=False),
    Column("confirmations", Integer, nullable=False),
    Column("detail", Text, nullable=False),
    Column("ledger_key", String(200)),  # the credit's idempotency key (once credited)
    Column("credits", Integer, nullable=False),  # times credited (a re-included one: 2)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_chain_deposits_network_state", "network", "state"),
)

# Signed payout transactions, stored before they are sent (recovery re-sends them).
payout_attempts = Table(
    "payout_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tx_hash", String(66), nullable=False, unique=True),
    Column("claim_id", ForeignKey("payout_requests.id"), nullable=False, index=True),
    Column("network", String(20), nullable=False),
    Column("sender", String(42), nullable=False),
    Column("nonce", BigInteger, nullable=False),
    Column("raw", Text, nullable=False),
    Column("gas", BigInteger, nullable=False),
    Column("max_fee", BigInteger, nullable=False),
    Column("priority_fee", BigInteger, nullable=False),
    Column("created_block", BigInteger, nullable=False),
    Column("state", String(20), nullable=False),  # signed | sent | confirmed | reverted | dead
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_payout_attempts_network_state", "network", "state"),
)

# The hot wallet's next nonce per network, handed out once each.
hot_wallet_nonces = Table(
    "hot_wallet_nonces",
    metadata,
    Column("network", String(20), primary_key=True),
    Column("sender", String(42), primary_key=True),
    Column("next", BigInteger, nullable=False),
)

# Work one replica does for all (e.g. "settlement:base"): who holds it, until when.
service_leases = Table(
    "service_leases",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("owner", String(40), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
