"""An SQLite `SettlementStore` for the settlement tests, with a small double-entry ledger
(idempotency keys, postings that sum to zero) standing in for the control plane's.

It persists to a file, so a test "restarts" by opening a new store on the same file.
Every method is one SQLite transaction, as the control plane's must be one database
transaction (settlement/store.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from pathlib import Path

from infernet.settlement.records import (
    Attempt,
    AttemptState,
    ChainTransfer,
    Checkpoint,
    Claim,
    ClaimStatus,
    DepositRecord,
    DepositState,
    Reversal,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (key TEXT PRIMARY KEY, kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS postings (key TEXT, account TEXT, micros INTEGER);
CREATE TABLE IF NOT EXISTS deposit_addresses (network TEXT, account_id TEXT, idx INTEGER,
    address TEXT, PRIMARY KEY (network, account_id), UNIQUE (network, idx));
CREATE TABLE IF NOT EXISTS checkpoints (network TEXT, number INTEGER, hash TEXT,
    PRIMARY KEY (network, number));
CREATE TABLE IF NOT EXISTS deposits (key TEXT PRIMARY KEY, network TEXT, tx_hash TEXT,
    position INTEGER, block_number INTEGER, block_hash TEXT, sender TEXT, recipient TEXT,
    micros INTEGER, account_id TEXT, state TEXT, confirmations INTEGER, detail TEXT,
    ledger_key TEXT);
CREATE TABLE IF NOT EXISTS claims (id TEXT PRIMARY KEY, seq INTEGER, owner TEXT,
    network TEXT, address TEXT, micros INTEGER, status TEXT, detail TEXT, tx_hash TEXT);
CREATE TABLE IF NOT EXISTS nonces (network TEXT, sender TEXT, next INTEGER,
    PRIMARY KEY (network, sender));
CREATE TABLE IF NOT EXISTS attempts (tx_hash TEXT PRIMARY KEY, seq INTEGER, claim_id TEXT,
    network TEXT, sender TEXT, nonce INTEGER, raw TEXT, gas INTEGER, max_fee INTEGER,
    priority_fee INTEGER, created_block INTEGER, state TEXT);
"""


def available(account_id: str) -> str:
    return f"client:{account_id}:available"


class SqliteSettlementStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- the small ledger -----------------------------------------------------------

    def _post(self, kind: str, key: str, postings: list[tuple[str, int]]) -> bool:
        assert sum(m for _, m in postings) == 0, postings
        if self._db.execute("SELECT 1 FROM ledger WHERE key = ?", (key,)).fetchone():
            return False
        self._db.execute("INSERT INTO ledger VALUES (?, ?)", (key, kind))
        self._db.executemany(
            "INSERT INTO postings VALUES (?, ?, ?)", [(key, a, m) for a, m in postings if m]
        )
        return True

    def balance(self, account: str) -> int:
        row = self._db.execute(
            "SELECT COALESCE(SUM(micros), 0) FROM postings WHERE account = ?", (account,)
        ).fetchone()
        return int(row[0])

    def posted(self, kind: str) -> int:
        return int(
            self._db.execute("SELECT COUNT(*) FROM ledger WHERE kind = ?", (kind,)).fetchone()[0]
        )

    def execute(self, sql: str, *args: object) -> list[sqlite3.Row]:
        """For tests that plant a difference."""
        return self._db.execute(sql, args).fetchall()

    # --- deposits ---------------------------------------------------------------------

    async def deposit_address(
        self, network: str, account_id: str, derive: Callable[[int], str]
    ) -> str:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT address FROM deposit_addresses WHERE network = ? AND account_id = ?",
                (network, account_id),
            ).fetchone()
            if row:
                return str(row["address"])
            index = self._db.execute(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM deposit_addresses WHERE network = ?",
                (network,),
            ).fetchone()[0]
            address = derive(int(index))
            self._db.execute(
                "INSERT INTO deposit_addresses VALUES (?, ?, ?, ?)",
                (network, account_id, index, address),
            )
            return address

    async def watched(self, network: str) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT address, account_id FROM deposit_addresses WHERE network = ?", (network,)
        )
        return {str(r["address"]).lower(): str(r["account_id"]) for r in rows}

    async def checkpoints(self, network: str, limit: int) -> list[Checkpoint]:
        rows = self._db.execute(
            "SELECT number, hash FROM checkpoints WHERE network = ? ORDER BY number DESC LIMIT ?",
            (network, limit),
        )
        return [Checkpoint(int(r["number"]), str(r["hash"])) for r in rows]

    async def advance(self, network: str, checkpoint: Checkpoint, keep: int) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)",
                (network, checkpoint.number, checkpoint.hash),
            )
            self._db.execute(
                "DELETE FROM checkpoints WHERE network = ? AND number NOT IN (SELECT number "
                "FROM checkpoints WHERE network = ? ORDER BY number DESC LIMIT ?)",
                (network, network, keep),
            )

    async def rewind(self, network: str, to: Checkpoint | None) -> None:
        above = -1 if to is None else to.number
        self._db.execute(
            "DELETE FROM checkpoints WHERE network = ? AND number > ?", (network, above)
        )

    def _row(self, key: str) -> sqlite3.Row | None:
        found: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM deposits WHERE key = ?", (key,)
        ).fetchone()
        return found

    def _upsert(self, t: ChainTransfer, account: str, state: DepositState, **extra: object) -> None:
        values = {
            "key": t.key,
            "network": t.network,
            "tx_hash": t.tx_hash,
            "position": t.position,
            "block_number": t.block.number,
            "block_hash": t.block.hash,
            "sender": t.sender,
            "recipient": t.recipient,
            "micros": t.micros,
            "account_id": account,
            "state": state.value,
            "confirmations": 0,
            "detail": "",
            "ledger_key": None,
        } | extra
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._db.execute(
            f"INSERT OR REPLACE INTO deposits ({names}) VALUES ({marks})", tuple(values.values())
        )

    async def credit(self, transfer: ChainTransfer, account_id: str) -> bool:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._row(transfer.key)
            if row is not None and row["state"] == DepositState.CREDITED:
                return False
            key = f"deposit:{transfer.key}:{transfer.block.hash}"
            self._post(
                "deposit",
                key,
                [("external:deposits", -transfer.micros), (available(account_id), transfer.micros)],
            )
            self._upsert(transfer, account_id, DepositState.CREDITED, ledger_key=key)
            return True

    async def move(self, old: ChainTransfer, new: ChainTransfer) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._row(old.key)
            assert row is not None
            self._db.execute("DELETE FROM deposits WHERE key = ?", (old.key,))
            self._upsert(
                new, str(row["account_id"]), DepositState.CREDITED, ledger_key=row["ledger_key"]
            )

    async def reverse(self, transfer: ChainTransfer, reason: str) -> Reversal:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._row(transfer.key)
            assert row is not None and row["state"] == DepositState.CREDITED
            account = available(str(row["account_id"]))
            taken = min(transfer.micros, max(self.balance(account), 0))
            shortfall = transfer.micros - taken
            self._post(
                "deposit_reversal",
                f"deposit_reversal:{row['ledger_key']}",
                [
                    (account, -taken),
                    ("external:deposits", transfer.micros),
                    ("external:credit_losses", -shortfall),
                ],
            )
            self._db.execute(
                "UPDATE deposits SET state = ?, detail = ? WHERE key = ?",
                (DepositState.REVERSED.value, reason, transfer.key),
            )
            return Reversal(taken, shortfall)

    async def set_unconfirmed(
        self, network: str, seen: list[tuple[ChainTransfer, str, int]]
    ) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "UPDATE deposits SET state = ?, detail = ? WHERE network = ? AND state = ?",
                (
                    DepositState.DROPPED.value,
                    "its block left the chain before it was confirmed",
                    network,
                    DepositState.UNCONFIRMED.value,
                ),
            )
            for transfer, account, confirmations in seen:
                row = self._row(transfer.key)
                if row is None or row["state"] == DepositState.DROPPED:
                    self._upsert(
                        transfer, account, DepositState.UNCONFIRMED, confirmations=confirmations
                    )

    async def deposits(
        self, network: str, states: Collection[DepositState], since_block: int = 0
    ) -> list[DepositRecord]:
        marks = ", ".join("?" for _ in states)
        rows = self._db.execute(
            f"SELECT * FROM deposits WHERE network = ? AND state IN ({marks}) "
            "AND block_number >= ? "
            "ORDER BY block_number, position",
            (network, *[s.value for s in states], since_block),
        )
        return [
            DepositRecord(
                ChainTransfer(
                    r["network"],
                    r["tx_hash"],
                    r["position"],
                    Checkpoint(r["block_number"], r["block_hash"]),
                    r["sender"],
                    r["recipient"],
                    r["micros"],
                ),
                r["account_id"],
                DepositState(r["state"]),
                r["confirmations"],
                r["detail"],
            )
            for r in rows
        ]

    # --- payouts ----------------------------------------------------------------------

    def add_claim(self, claim_id: str, owner: str, network: str, address: str, micros: int) -> None:
        """What the control plane's `Payouts.claim` does: earnings -> payout_pending."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            seq = self._db.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
            self._db.execute(
                "INSERT INTO claims VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (claim_id, seq, owner, network, address, micros, ClaimStatus.PENDING.value, ""),
            )
            self._post(
                "payout_request",
                f"payout:{claim_id}",
                [(f"earnings:{owner}", -micros), (f"payout_pending:{owner}", micros)],
            )

    async def claims(self, network: str, statuses: Collection[ClaimStatus]) -> list[Claim]:
        marks = ", ".join("?" for _ in statuses)
        rows = self._db.execute(
            f"SELECT * FROM claims WHERE network = ? AND status IN ({marks}) ORDER BY seq",
            (network, *[s.value for s in statuses]),
        )
        return [
            Claim(
                r["id"],
                r["owner"],
                r["network"],
                r["address"],
                r["micros"],
                ClaimStatus(r["status"]),
                r["detail"],
                r["tx_hash"],
            )
            for r in rows
        ]

    def claim(self, claim_id: str) -> Claim:
        r = self._db.execute("SELECT * FROM claims WHERE id = ?", (claim_id,)).fetchone()
        return Claim(
            r["id"],
            r["owner"],
            r["network"],
            r["address"],
            r["micros"],
            ClaimStatus(r["status"]),
            r["detail"],
            r["tx_hash"],
        )

    async def set_detail(self, claim_id: str, detail: str) -> None:
        self._db.execute("UPDATE claims SET detail = ? WHERE id = ?", (detail, claim_id))

    async def next_nonce(self, network: str, sender: str, floor: int) -> int:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT next FROM nonces WHERE network = ? AND sender = ?", (network, sender)
            ).fetchone()
            nonce = max(floor, int(row["next"]) if row else 0)
            self._db.execute(
                "INSERT OR REPLACE INTO nonces VALUES (?, ?, ?)", (network, sender, nonce + 1)
            )
            return nonce

    async def peek_nonce(self, network: str, sender: str) -> int:
        row = self._db.execute(
            "SELECT next FROM nonces WHERE network = ? AND sender = ?", (network, sender)
        ).fetchone()
        return int(row["next"]) if row else 0

    async def add_attempt(self, attempt: Attempt) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            seq = self._db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
            a = attempt
            self._db.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    a.tx_hash,
                    seq,
                    a.claim_id,
                    a.network,
                    a.sender,
                    a.nonce,
                    a.raw,
                    a.gas,
                    a.max_fee,
                    a.priority_fee,
                    a.created_block,
                    a.state.value,
                ),
            )
            self._db.execute(
                "UPDATE claims SET status = ?, detail = ? WHERE id = ?",
                (ClaimStatus.SENT.value, f"sent: {a.tx_hash}", a.claim_id),
            )

    async def attempts(self, network: str, states: Collection[AttemptState]) -> list[Attempt]:
        marks = ", ".join("?" for _ in states)
        rows = self._db.execute(
            f"SELECT * FROM attempts WHERE network = ? AND state IN ({marks}) ORDER BY nonce, seq",
            (network, *[s.value for s in states]),
        )
        return [
            Attempt(
                r["claim_id"],
                r["network"],
                r["sender"],
                r["nonce"],
                r["tx_hash"],
                r["raw"],
                r["gas"],
                r["max_fee"],
                r["priority_fee"],
                r["created_block"],
                AttemptState(r["state"]),
            )
            for r in rows
        ]

    def all_attempts(self, claim_id: str) -> list[sqlite3.Row]:
        return self._db.execute(
            "SELECT * FROM attempts WHERE claim_id = ? ORDER BY seq", (claim_id,)
        ).fetchall()

    async def set_attempt_state(self, tx_hash: str, state: AttemptState) -> None:
        self._db.execute("UPDATE attempts SET state = ? WHERE tx_hash = ?", (state.value, tx_hash))

    async def confirm(self, attempt: Attempt, block: Checkpoint) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            claim = self.claim(attempt.claim_id)
            if claim.status is ClaimStatus.CONFIRMED:
                return
            self._post(
                "payout_settled",
                f"payout_settled:{claim.id}",
                [
                    (f"payout_pending:{claim.owner}", -claim.micros),
                    ("external:payouts", claim.micros),
                ],
            )
            self._db.execute(
                "UPDATE claims SET status = ?, tx_hash = ?, detail = ? WHERE id = ?",
                (
                    ClaimStatus.CONFIRMED.value,
                    attempt.tx_hash,
                    f"confirmed in block {block.number}",
                    claim.id,
                ),
            )
            self._db.execute(
                "UPDATE attempts SET state = ? WHERE claim_id = ? AND state IN (?, ?)",
                (
                    AttemptState.DEAD.value,
                    claim.id,
                    AttemptState.SIGNED.value,
                    AttemptState.SENT.value,
                ),
            )
            self._db.execute(
                "UPDATE attempts SET state = ? WHERE tx_hash = ?",
                (AttemptState.CONFIRMED.value, attempt.tx_hash),
            )

    async def release(self, claim_id: str, detail: str) -> None:
        self._db.execute(
            "UPDATE claims SET status = ?, detail = ? WHERE id = ?",
            (ClaimStatus.PENDING.value, detail, claim_id),
        )
