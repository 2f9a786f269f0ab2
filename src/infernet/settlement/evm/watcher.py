"""The deposit watcher: USDC transfers to deposit addresses become ledger credits, once
each, after the configured number of confirmations.

One `poll`:

1. Where were we? The newest checkpoint (block number + hash) must still be on the
   chain. If it is not, the chain re-organised below it: walk back through older
   checkpoints to the newest one still on the chain, undo every credit above it whose
   block is gone (moved, if the same transfer is now in a confirmed block; else reversed),
   and resume from there. No checkpoint left on the chain: `DeepReorg`, nothing more is
   credited until an operator looks.
2. Scan the confirmed blocks (at least `confirmations` deep) in ranges: the block hash at
   the range's end is read before and after the logs, and our checkpoint is checked again,
   so the logs, the checkpoint we then store and the one before it are of one chain.
   Each transfer is credited by `store.credit`, which does nothing for one credited
   already (a range scanned twice after a crash, the same log seen twice).
3. Scan the unconfirmed tail and record what is there as `unconfirmed` (shown to the
   client, not spendable); what vanished from it becomes `dropped`.

A restart resumes from the newest checkpoint. Because credits wait for confirmations, a
re-org shallower than that never touches the ledger; a deeper one is undone as above,
and the client's balance is reversed before more is spent (what was spent already is
booked as a credit loss by the store).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from infernet.protocol.money import from_micros, show
from infernet.settlement.errors import DeepReorg
from infernet.settlement.evm.config import EvmSettings
from infernet.settlement.evm.rpc import EvmRpc
from infernet.settlement.records import ChainTransfer, Checkpoint, DepositState
from infernet.settlement.store import DepositStore

log = logging.getLogger("infernet.settlement.deposits")


@dataclass(frozen=True, slots=True)
class WatchResult:
    head: int
    credited: int = 0
    reversed: int = 0
    unconfirmed: int = 0
    complete: bool = True  # False: the chain changed during the scan; the next poll goes on


class DepositWatcher:
    def __init__(self, rpc: EvmRpc, store: DepositStore, settings: EvmSettings) -> None:
        self._rpc, self._store, self._settings = rpc, store, settings
        self._network = settings.network

    async def poll(self) -> WatchResult:
        head = await self._rpc.head()
        confirmed_to = head - self._settings.confirmations + 1
        cursor, reversed_ = await self._position(confirmed_to)
        watched = await self._store.watched(self._network)
        credited, start = 0, (cursor.number + 1 if cursor else 0)
        while start <= confirmed_to:
            end = min(start + self._settings.max_block_range - 1, confirmed_to)
            found = await self._scan(cursor, start, end, watched)
            if found is None:
                return WatchResult(head, credited, reversed_, complete=False)
            cursor, credited, start = found[0], credited + found[1], end + 1
        seen = await self._unconfirmed(start, head, watched)
        return WatchResult(head, credited, reversed_, seen)

    async def _canonical(self, checkpoint: Checkpoint) -> bool:
        return await self._rpc.checkpoint(checkpoint.number) == checkpoint

    async def _position(self, confirmed_to: int) -> tuple[Checkpoint | None, int]:
        """The newest processed block still on the chain (re-org undone), and how many
        credits were reversed on the way."""
        recent = await self._store.checkpoints(self._network, self._settings.checkpoint_history)
        if not recent:
            return await self._begin(confirmed_to), 0
        if await self._canonical(recent[0]):
            return recent[0], 0
        for checkpoint in recent[1:]:
            if await self._canonical(checkpoint):
                log.warning(
                    "chain re-organised below our checkpoint",
                    extra={"network": self._network, "from_block": checkpoint.number + 1},
                )
                reversed_ = await self._undo_above(checkpoint, confirmed_to)
                await self._store.rewind(self._network, checkpoint)
                return checkpoint, reversed_
        raise DeepReorg(
            f"{self._network}: none of the last {len(recent)} checkpointed blocks (down to "
            f"{recent[-1].number}) is on the chain any more. Deposits are not credited until "
            "an operator checks the RPC endpoint and runs `infernet cp reconcile`."
        )

    async def _begin(self, confirmed_to: int) -> Checkpoint | None:
        """First start: remember the block before the first one to watch."""
        start = self._settings.start_block
        base = max(confirmed_to, 0) if start is None else start - 1
        checkpoint = await self._rpc.checkpoint(base) if base >= 0 else None
        if checkpoint is not None:
            await self._store.advance(self._network, checkpoint, self._settings.checkpoint_history)
        return checkpoint

    async def _undo_above(self, base: Checkpoint, confirmed_to: int) -> int:
        states = [DepositState.CREDITED]
        credited = await self._store.deposits(self._network, states, base.number + 1)
        reversed_ = 0
        for record in credited:
            old = record.transfer
            if await self._canonical(old.block):
                continue
            moved = await self._reincluded(old, confirmed_to)
            if moved is not None:
                await self._store.move(old, moved)
                continue
            reversal = await self._store.reverse(old, "its block left the chain (re-org)")
            reversed_ += 1
            log.warning(
                "deposit reversed: its block left the chain",
                extra={
                    "network": self._network,
                    "tx_hash": old.tx_hash,
                    "account_id": record.account_id,
                    "amount": show(from_micros(old.micros)),
                    "shortfall": show(from_micros(reversal.shortfall_micros)),
                },
            )
        return reversed_

    async def _reincluded(self, old: ChainTransfer, confirmed_to: int) -> ChainTransfer | None:
        """The same transfer, if its transaction is now in a confirmed block."""
        receipt = await self._rpc.receipt(old.tx_hash)
        if receipt is None or receipt.block.number > confirmed_to or not receipt.succeeded:
            return None
        for transfer in receipt.transfers:
            same = (transfer.sender, transfer.recipient, transfer.micros)
            if same == (old.sender, old.recipient, old.micros):
                return transfer
        return None

    async def _logs(self, start: int, end: int, watched: dict[str, str]) -> list[ChainTransfer]:
        found = await self._rpc.transfers_between(
            start,
            end,
            max_range=self._settings.max_block_range,
            max_addresses=self._settings.max_addresses_per_query,
            recipients=sorted(watched),
        )
        return [t for t in found if t.micros > 0]

    async def _scan(
        self, cursor: Checkpoint | None, start: int, end: int, watched: dict[str, str]
    ) -> tuple[Checkpoint, int] | None:
        """Credit the confirmed range; the new checkpoint and the number credited, or None
        if the chain changed while we read it."""
        before = await self._rpc.checkpoint(end)
        transfers = await self._logs(start, end, watched)
        after = await self._rpc.checkpoint(end)
        if after is None or before != after:
            return None
        if cursor is not None and not await self._canonical(cursor):
            return None
        credited = 0
        for transfer in transfers:
            account = watched[transfer.recipient.lower()]
            if await self._store.credit(transfer, account):
                credited += 1
                log.info(
                    "deposit credited",
                    extra={
                        "network": self._network,
                        "tx_hash": transfer.tx_hash,
                        "block": transfer.block.number,
                        "account_id": account,
                        "amount": show(from_micros(transfer.micros)),
                    },
                )
        await self._store.advance(self._network, after, self._settings.checkpoint_history)
        return after, credited

    async def _unconfirmed(self, start: int, head: int, watched: dict[str, str]) -> int:
        transfers = await self._logs(start, head, watched) if start <= head else []
        seen = [(t, watched[t.recipient.lower()], head - t.block.number + 1) for t in transfers]
        await self._store.set_unconfirmed(self._network, seen)
        return len(seen)
