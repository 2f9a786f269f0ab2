"""Reconciliation on an EVM chain: the ledger's records against what the chain says.

Over the confirmed blocks of the window (the last `reconcile_window_blocks`, or from a
given block): every transfer to a deposit address against the credits, and every USDC
transfer out of the hot wallet against the confirmed payouts; every confirmed payout's
own transaction; and the hot wallet's balance against what the unpaid claims need. Each
difference is reported (settlement/reconcile.py names the kinds); nothing is changed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from infernet.protocol.money import from_micros, show
from infernet.settlement.evm.config import EvmSettings
from infernet.settlement.evm.rpc import EvmRpc
from infernet.settlement.reconcile import Difference, ReconciliationReport
from infernet.settlement.records import AttemptState, ChainTransfer, ClaimStatus, DepositState
from infernet.settlement.store import SettlementStore

UNPAID = (ClaimStatus.PENDING, ClaimStatus.SENT)


class EvmReconciler:
    def __init__(
        self, rpc: EvmRpc, store: SettlementStore, settings: EvmSettings, hot_wallet: str | None
    ) -> None:
        self._rpc, self._store, self._settings = rpc, store, settings
        self._hot = hot_wallet
        self._network = settings.network

    async def run(self, from_block: int | None = None) -> ReconciliationReport:
        head = await self._rpc.head()
        to_block = head - self._settings.confirmations + 1
        start = to_block - self._settings.reconcile_window_blocks + 1
        start = max(0, start if from_block is None else from_block)
        checked: dict[str, int] = {}
        differences = await self._deposits(start, to_block, checked)
        note = ""
        if self._hot is None:
            note = "No hot wallet is configured: payouts were not compared."
        else:
            differences += await self._payouts(self._hot, start, to_block, checked)
            differences += await self._hot_wallet(self._hot, checked)
        return ReconciliationReport(
            self._network, datetime.now(UTC), start, to_block, differences, checked, note
        )

    async def _transfers(
        self,
        start: int,
        end: int,
        *,
        senders: list[str] | None = None,
        recipients: list[str] | None = None,
    ) -> list[ChainTransfer]:
        return await self._rpc.transfers_between(
            start,
            end,
            max_range=self._settings.max_block_range,
            max_addresses=self._settings.max_addresses_per_query,
            senders=senders or (),
            recipients=recipients or (),
        )

    async def _deposits(self, start: int, end: int, checked: dict[str, int]) -> list[Difference]:
        watched = await self._store.watched(self._network)
        on_chain = {
            t.key: t
            for t in await self._transfers(start, end, recipients=sorted(watched))
            if t.micros > 0
        }
        records = await self._store.deposits(self._network, [DepositState.CREDITED], start)
        credited = {r.transfer.key: r for r in records if r.transfer.block.number <= end}
        checked["transfers to deposit addresses"] = len(on_chain)
        checked["credits"] = len(credited)
        reached = await self._store.checkpoints(self._network, 1)
        watched_to = reached[0].number if reached else -1
        found: list[Difference] = []
        for key, transfer in on_chain.items():
            record = credited.get(key)
            owner = watched[transfer.recipient.lower()]
            if record is None:
                ahead = transfer.block.number > watched_to
                where = f"; the watcher is at block {watched_to}" if ahead else ""
                found.append(
                    Difference(
                        "deposit_not_credited",
                        key,
                        None,
                        transfer.micros,
                        f"to {transfer.recipient} (account {owner}) in block "
                        f"{transfer.block.number}{where}",
                        in_progress=ahead,
                    )
                )
            elif record.transfer.micros != transfer.micros or record.account_id != owner:
                found.append(
                    Difference(
                        "deposit_mismatch",
                        key,
                        record.transfer.micros,
                        transfer.micros,
                        f"credited to account {record.account_id}; the address is account "
                        f"{owner}'s",
                    )
                )
        for key, record in credited.items():
            if key not in on_chain:
                found.append(
                    Difference(
                        "credit_without_transfer",
                        key,
                        record.transfer.micros,
                        None,
                        f"credited to account {record.account_id} for block "
                        f"{record.transfer.block.number}, which has no such transfer",
                    )
                )
        return found

    async def _payouts(
        self, hot: str, start: int, end: int, checked: dict[str, int]
    ) -> list[Difference]:
        confirmed = await self._store.claims(self._network, [ClaimStatus.CONFIRMED])
        by_hash = {c.tx_hash.lower(): c for c in confirmed if c.tx_hash}
        open_hashes = {
            a.tx_hash.lower()
            for a in await self._store.attempts(
                self._network, [AttemptState.SIGNED, AttemptState.SENT]
            )
        }
        outgoing = await self._transfers(start, end, senders=[hot])
        checked["transfers out of the hot wallet"] = len(outgoing)
        checked["confirmed payouts"] = len(confirmed)
        found: list[Difference] = []
        for transfer in outgoing:
            tx = transfer.tx_hash.lower()
            if tx in by_hash:
                continue
            ours = tx in open_hashes  # the payer records it on its next tick
            if ours:
                kind, why = "payout_unrecorded", "mined and confirmed; its claim is not paid yet"
            else:
                kind, why = "transfer_without_payout", f"to {transfer.recipient}; no claim"
            found.append(Difference(kind, transfer.tx_hash, None, transfer.micros, why, ours))
        for claim in confirmed:
            found += await self._payout_on_chain(
                claim.id, claim.tx_hash, claim.address, claim.micros
            )
        return found

    async def _payout_on_chain(
        self, claim_id: str, tx_hash: str | None, address: str, micros: int
    ) -> list[Difference]:
        receipt = await self._rpc.receipt(tx_hash) if tx_hash else None
        if receipt is None or not receipt.succeeded:
            why = "no transaction hash" if not tx_hash else f"{tx_hash} is not mined successfully"
            return [Difference("payout_not_on_chain", claim_id, micros, None, why)]
        paid = sum(t.micros for t in receipt.transfers if t.recipient.lower() == address.lower())
        if paid != micros:
            return [
                Difference(
                    "payout_mismatch",
                    claim_id,
                    micros,
                    paid,
                    f"{tx_hash} moved {show(from_micros(paid))} USDC to {address}",
                )
            ]
        return []

    async def _hot_wallet(self, hot: str, checked: dict[str, int]) -> list[Difference]:
        """Unpaid claims against the balance; a claim whose transfer is mined already
        left the balance, so it is not counted."""
        unpaid = await self._store.claims(self._network, UNPAID)
        open_attempts = await self._store.attempts(
            self._network, [AttemptState.SIGNED, AttemptState.SENT]
        )
        owed = 0
        for claim in unpaid:
            hashes = [a.tx_hash for a in open_attempts if a.claim_id == claim.id]
            if not any([await self._rpc.receipt(h) for h in hashes]):
                owed += claim.micros
        balance = await self._rpc.token_balance(hot)
        checked["unpaid claims"] = len(unpaid)
        if balance >= owed:
            return []
        return [
            Difference(
                "hot_wallet_short",
                hot,
                owed,
                balance,
                f"unpaid claims need {show(from_micros(owed))} USDC and the hot wallet "
                f"holds {show(from_micros(balance))}; top it up",
            )
        ]
