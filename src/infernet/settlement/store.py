"""What settlement keeps, as two narrow protocols the control plane implements on its own
database (tests use an SQLite one, tests/settlement/sqlite_store.py, and every
implementation must pass the same behaviour tests).

Ledger effects are part of these methods on purpose: a deposit's record and its ledger
credit, or a payout's confirmation and its ledger movement, must be one database
transaction, so a crash leaves both or neither. In the control plane each such method is
one `Ledger.post(kind, key, postings, extra=<write the row>)` with the key named here;
the key makes a repeated call a no-op.

Ledger movements (accounts as in controlplane/ledger.py):

    credit   key deposit:<network>:<tx>:<position>:<block hash>
             external:deposits -m, client:<account>:available +m
    reverse  key deposit_reversal:<same as the credit's key>
             client:<account>:available -(m - s), external:deposits +m,
             external:credit_losses -s   (s: what the client had spent already)
    confirm  key payout_settled:<claim id>
             payout_pending:<owner> -m, external:payouts +m
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

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


class DepositStore(Protocol):
    """Deposit addresses, the watcher's position on the chain, and deposits."""

    async def deposit_address(
        self, network: str, account_id: str, derive: Callable[[int], str]
    ) -> str:
        """The account's deposit address: on first use, the next unused index is given to
        the account (atomically, never twice) and `derive(index)` stored with it."""
        ...

    async def watched(self, network: str) -> dict[str, str]:
        """Every deposit address (lower-case) -> its account id."""
        ...

    async def checkpoints(self, network: str, limit: int) -> list[Checkpoint]:
        """The newest `limit` blocks the watcher finished, newest first ([] at first start)."""
        ...

    async def advance(self, network: str, checkpoint: Checkpoint, keep: int) -> None:
        """Record that every block up to `checkpoint` is processed; keep the newest `keep`."""
        ...

    async def rewind(self, network: str, to: Checkpoint | None) -> None:
        """Forget the checkpoints above `to` (None: all): a re-org replaced those blocks."""
        ...

    async def credit(self, transfer: ChainTransfer, account_id: str) -> bool:
        """Record the deposit as credited and credit the ledger, atomically. False, and
        nothing moves, if this transfer is credited already (the same log seen twice). A
        transfer reversed before and seen again (re-included) is credited again."""
        ...

    async def move(self, old: ChainTransfer, new: ChainTransfer) -> None:
        """A credited transfer was re-included in another block by a re-org: the record
        follows it (same credit, no ledger movement)."""
        ...

    async def reverse(self, transfer: ChainTransfer, reason: str) -> Reversal:
        """Take a credit back (its block vanished), atomically with the record's state."""
        ...

    async def set_unconfirmed(
        self, network: str, seen: list[tuple[ChainTransfer, str, int]]
    ) -> None:
        """Replace the network's unconfirmed deposits with `seen` (transfer, account,
        confirmations); earlier unconfirmed ones missing from it become `dropped`."""
        ...

    async def deposits(
        self, network: str, states: Collection[DepositState], since_block: int = 0
    ) -> list[DepositRecord]:
        """Deposits in those states whose block is at or above `since_block`."""
        ...


class PayoutStore(Protocol):
    """Payout claims, the hot wallet's nonces, and the transactions sent for claims."""

    async def claims(self, network: str, statuses: Collection[ClaimStatus]) -> list[Claim]:
        """Claims in those statuses, oldest first."""
        ...

    async def set_detail(self, claim_id: str, detail: str) -> None:
        """Say why a claim waits, or how far its transaction is (status unchanged)."""
        ...

    async def next_nonce(self, network: str, sender: str, floor: int) -> int:
        """Atomically: n = max(the stored next nonce, floor); store n + 1; return n."""
        ...

    async def peek_nonce(self, network: str, sender: str) -> int:
        """The stored next nonce (0 if none was handed out)."""
        ...

    async def add_attempt(self, attempt: Attempt) -> None:
        """Store a signed transaction before it is sent; its claim becomes `sent`."""
        ...

    async def attempts(self, network: str, states: Collection[AttemptState]) -> list[Attempt]:
        """Attempts in those states, by nonce then age."""
        ...

    async def set_attempt_state(self, tx_hash: str, state: AttemptState) -> None: ...

    async def confirm(self, attempt: Attempt, block: Checkpoint) -> None:
        """The attempt paid its claim: the claim becomes `confirmed` with its hash, the
        ledger moves the amount out, the attempt is `confirmed` and the claim's other open
        attempts `dead`, atomically and once."""
        ...

    async def release(self, claim_id: str, detail: str) -> None:
        """None of the claim's attempts can pay it any more: back to `pending`, saying why."""
        ...


class SettlementStore(DepositStore, PayoutStore, Protocol):
    """Both, as one object (the control plane's database implements both)."""
