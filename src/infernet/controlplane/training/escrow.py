"""A training job's money, on the double-entry ledger (money/ledger.py), as a job's is:

* hold (create): the whole budget moves from the client's available balance to held, in
  the database transaction that writes the job (`train-hold:<job>`, kind
  `training_hold`: a crash cannot leave it without its job, so money/holds.py, which
  closes the open `hold`s of inference jobs, leaves it alone); a budget above the balance
  is refused with 402 and nothing is written.
* pay (a shard accepted): the shard's share of the budget (fixed at creation, by its
  number of examples) moves from held to the node owner's earnings (85 %) and the
  platform's fees (15 %), in the transaction that marks the shard accepted and stores
  its training receipt, countersigned here (`train-pay:<shard>`: once per shard, so a
  second acceptance could never pay twice).
* release (job ended): what the hold still holds goes back (`final:<job>`).

A claim that lapsed, was given up or was rejected never reaches `pay`. With payments
off (`PAYMENTS_ENABLED=false`) nothing is held, paid or countersigned; jobs, shards and
claims are kept the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.errors import InsufficientFunds
from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.billing import ADD_FUNDS, final_key
from infernet.controlplane.money.ledger import Extra, Overdraft
from infernet.controlplane.money.payments import Payments
from infernet.controlplane.store.training import ClaimRecord, ShardRecord, TrainingJobRecord
from infernet.protocol.money import from_micros, show, split_fee
from infernet.protocol.training import TrainingReceipt, countersign_training

Accept = Callable[[dict[str, Any] | None], Extra]


def pay_key(shard_id: str) -> str:
    return f"train-pay:{shard_id}"


class TrainingEscrow:
    def __init__(self, db: AsyncEngine, payments: Payments | None) -> None:
        self._db, self.payments = db, payments

    async def hold(self, account_id: str, job_id: str, amount: Decimal, write: Extra) -> None:
        if self.payments is None:
            async with self._db.begin() as conn:
                await write(conn)
            return
        moves = [
            (accounts.client_available(account_id), -amount),
            (accounts.client_held(account_id), amount),
        ]
        try:
            await self.payments.ledger.post(
                "training_hold",
                f"train-hold:{job_id}",
                moves,
                job_id=job_id,
                memo=f"escrow for training job {job_id}: budget {show(amount)}",
                extra=write,
            )
        except Overdraft as exc:
            available = await self.payments.ledger.balance(accounts.client_available(account_id))
            raise InsufficientFunds(
                f"The budget is {show(amount)} USDC and your balance is {show(available)} "
                f"USDC. Lower --budget or add funds. {ADD_FUNDS}"
            ) from exc

    async def pay(
        self, job: TrainingJobRecord, shard: ShardRecord, claim: ClaimRecord, accept: Accept
    ) -> None:
        if self.payments is None:
            async with self._db.begin() as conn:
                await accept(claim.receipt)(conn)
            return
        receipt = TrainingReceipt.model_validate(claim.receipt)
        signed = countersign_training(receipt, self.payments.platform_key)
        value = from_micros(shard.pay_micros)
        node_part, fee = split_fee(value)
        owner = await self.payments.accounting.owner_of(claim.node_id)
        moves = [
            (accounts.client_held(job.account_id), -value),
            (accounts.earnings(owner), node_part),
            (accounts.PLATFORM_FEES, fee),
        ]
        await self.payments.ledger.post(
            "training_pay",
            pay_key(shard.id),
            moves,
            job_id=job.id,
            memo=f"training shard {shard.position} of {job.id} ({receipt.id}): {show(value)}",
            extra=accept(signed.model_dump(mode="json")),
        )

    async def release(self, job: TrainingJobRecord) -> None:
        if self.payments is None:
            return
        ledger = self.payments.ledger
        held = await ledger.job_total(job.id, accounts.client_held(job.account_id))
        moves = [
            (accounts.client_held(job.account_id), -held),
            (accounts.client_available(job.account_id), held),
        ]
        await ledger.post(
            "training_release",
            final_key(job.id),
            moves,
            job_id=job.id,
            memo=f"training job {job.id} ended: {show(held)} of its budget returned",
        )
