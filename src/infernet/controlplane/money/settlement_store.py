"""The control plane's `SettlementStore` (settlement/store.py): settlement's records in
this database, and its money movements in this ledger.

A credit, a reversal and a payout's confirmation are each one `Ledger.post` whose
`extra` writes the record, so the ledger transaction and the record commit together, and
the idempotency key (the names settlement/store.py gives) makes a repeated call a no-op.
Everything else is a plain write in store/ (chain_deposits.py, payout_attempts.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.ledger import Ledger, Overdraft
from infernet.controlplane.store import chain_deposits as deposit_rows
from infernet.controlplane.store import payout_attempts as payout_rows
from infernet.controlplane.store.ids import utcnow
from infernet.protocol.money import from_micros, to_micros
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

REVERSAL_TRIES = 5  # the client spends while we reverse: read the balance again


class DbSettlementStore:
    def __init__(self, db: AsyncEngine, ledger: Ledger) -> None:
        self._db, self._ledger = db, ledger

    # --- deposits ----------------------------------------------------------------------

    async def deposit_address(
        self, network: str, account_id: str, derive: Callable[[int], str]
    ) -> str:
        return await deposit_rows.deposit_address(self._db, network, account_id, derive)

    async def watched(self, network: str) -> dict[str, str]:
        return await deposit_rows.watched(self._db, network)

    async def checkpoints(self, network: str, limit: int) -> list[Checkpoint]:
        return await deposit_rows.checkpoints(self._db, network, limit)

    async def advance(self, network: str, checkpoint: Checkpoint, keep: int) -> None:
        await deposit_rows.advance(self._db, network, checkpoint, keep)

    async def rewind(self, network: str, to: Checkpoint | None) -> None:
        await deposit_rows.rewind(self._db, network, to)

    async def _deposit(self, key: str) -> deposit_rows.DepositRow | None:
        async with self._db.connect() as conn:
            return await deposit_rows.deposit(conn, key)

    async def credit(self, transfer: ChainTransfer, account_id: str) -> bool:
        found = await self._deposit(transfer.key)
        if found is not None and found.record.state is DepositState.CREDITED:
            return False
        credits = found.credits if found is not None else 0
        key = f"deposit:{transfer.key}:{transfer.block.hash}"
        key += f":{credits}" if credits else ""  # credited again: a key of its own

        async def record(conn: AsyncConnection) -> None:
            await deposit_rows.write(
                conn,
                transfer,
                account_id,
                DepositState.CREDITED,
                detail="",
                ledger_key=key,
                credits=credits + 1,
            )

        amount = from_micros(transfer.micros)
        moves = [
            (accounts.EXTERNAL_DEPOSITS, -amount),
            (accounts.client_available(account_id), amount),
        ]
        memo = f"USDC deposit on {transfer.network}: {transfer.tx_hash}"
        posted = await self._ledger.post("deposit", key, moves, memo=memo, extra=record)
        return posted is not None

    async def move(self, old: ChainTransfer, new: ChainTransfer) -> None:
        async with self._db.begin() as conn:
            await deposit_rows.move(conn, old, new)

    async def reverse(self, transfer: ChainTransfer, reason: str) -> Reversal:
        for _ in range(REVERSAL_TRIES):
            found = await self._deposit(transfer.key)
            if found is None or found.record.state is not DepositState.CREDITED:
                return Reversal(0, 0)  # nothing credited (any more): nothing to take back
            try:
                return await self._reverse(found, reason)
            except Overdraft:
                continue
        raise RuntimeError(f"could not reverse {transfer.key}: the balance kept changing")

    async def _reverse(self, found: deposit_rows.DepositRow, reason: str) -> Reversal:
        record = found.record
        available = accounts.client_available(record.account_id)
        balance = to_micros(await self._ledger.balance(available))
        taken = min(record.transfer.micros, max(balance, 0))
        shortfall = record.transfer.micros - taken

        async def mark(conn: AsyncConnection) -> None:
            await deposit_rows.set_state(conn, record.transfer.key, DepositState.REVERSED, reason)

        moves = [
            (available, -from_micros(taken)),
            (accounts.EXTERNAL_DEPOSITS, from_micros(record.transfer.micros)),
            (accounts.EXTERNAL_CREDIT_LOSSES, -from_micros(shortfall)),
        ]
        await self._ledger.post(
            "deposit_reversal",
            f"deposit_reversal:{found.ledger_key}",
            moves,
            memo=f"USDC deposit {record.transfer.tx_hash} reversed: {reason}",
            extra=mark,
        )
        return Reversal(taken, shortfall)

    async def set_unconfirmed(
        self, network: str, seen: list[tuple[ChainTransfer, str, int]]
    ) -> None:
        await deposit_rows.replace_unconfirmed(self._db, network, seen)

    async def deposits(
        self, network: str, states: Collection[DepositState], since_block: int = 0
    ) -> list[DepositRecord]:
        return await deposit_rows.deposits(self._db, network, states, since_block)

    # --- payouts -----------------------------------------------------------------------

    async def claims(self, network: str, statuses: Collection[ClaimStatus]) -> list[Claim]:
        return await payout_rows.claims(self._db, network, statuses)

    async def set_detail(self, claim_id: str, detail: str) -> None:
        await payout_rows.set_detail(self._db, claim_id, detail)

    async def next_nonce(self, network: str, sender: str, floor: int) -> int:
        return await payout_rows.next_nonce(self._db, network, sender, floor)

    async def peek_nonce(self, network: str, sender: str) -> int:
        return await payout_rows.peek_nonce(self._db, network, sender)

    async def add_attempt(self, attempt: Attempt) -> None:
        await payout_rows.add_attempt(self._db, attempt)

    async def attempts(self, network: str, states: Collection[AttemptState]) -> list[Attempt]:
        return await payout_rows.attempts(self._db, network, states)

    async def set_attempt_state(self, tx_hash: str, state: AttemptState) -> None:
        await payout_rows.set_attempt_state(self._db, tx_hash, state)

    async def confirm(self, attempt: Attempt, block: Checkpoint) -> None:
        async with self._db.connect() as conn:
            claim = await payout_rows.claim(conn, attempt.claim_id)
        if claim is None or claim.status is ClaimStatus.CONFIRMED:
            return

        async def record(conn: AsyncConnection) -> None:
            await payout_rows.set_claim(
                conn,
                claim.id,
                status=ClaimStatus.CONFIRMED.value,
                tx_hash=attempt.tx_hash,
                block_number=block.number,
                confirmed_at=utcnow(),
                detail=f"confirmed in block {block.number}",
            )
            await payout_rows.settle_attempts(conn, claim.id, attempt.tx_hash)

        amount = from_micros(claim.micros)
        moves = [
            (accounts.payout_pending(claim.owner), -amount),
            (accounts.EXTERNAL_PAYOUTS, amount),
        ]
        await self._ledger.post(
            "payout_settled",
            f"payout_settled:{claim.id}",
            moves,
            memo=f"USDC payout on {claim.network}: {attempt.tx_hash}",
            extra=record,
        )

    async def release(self, claim_id: str, detail: str) -> None:
        await payout_rows.release(self._db, claim_id, detail)
