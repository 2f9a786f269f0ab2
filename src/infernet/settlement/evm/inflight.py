"""Payouts in flight: follow every open attempt until its claim is paid exactly once.

Run at start (recovery after a crash) and on every tick. For each claim with open
attempts, in nonce order:

* one of its attempts is mined: with enough confirmations it is confirmed (the ledger
  moves the amount out) or, if it failed on chain, the claim goes back to pending (the
  nonce is used, nothing moved); with fewer, the claim says how many it has;
* none is mined and the nonce was used by another transaction in a confirmed block:
  none of them can ever be mined, so the claim goes back to pending, to be paid with a
  new nonce (this is the only way a claim gets a second nonce, which is why it cannot be
  paid twice);
* none is mined and the nonce is free: the newest attempt is re-broadcast if the node
  does not have it (a crash before sending, a node that dropped it), and replaced with a
  higher fee when it has waited `stuck_after_blocks`.

Nonce gaps: a nonce handed out by the store but never stored in an attempt (a crash
between the two) would hold back every later transaction. Each such nonce between the
chain's count and the store's next one is filled with a zero-value transfer of the
native coin to the hot wallet itself (21,000 gas), not stored: if it is lost, the gap is
found and filled again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from itertools import groupby

from infernet.protocol.money import from_micros, show
from infernet.settlement.evm.config import EvmSettings
from infernet.settlement.evm.fees import FeeCapped, FeePlan, bump, plan
from infernet.settlement.evm.hotwallet import HotWallet
from infernet.settlement.evm.rpc import EvmRpc, Receipt
from infernet.settlement.evm.transactions import ACCEPTED, broadcast, refusal, sign_attempt
from infernet.settlement.records import Attempt, AttemptState, Claim, ClaimStatus
from infernet.settlement.store import PayoutStore

log = logging.getLogger("infernet.settlement.payouts")
OPEN = (AttemptState.SIGNED, AttemptState.SENT)
FILLER_GAS = 21_000


@dataclass(slots=True)
class InFlightResult:
    confirmed: int = 0
    released: int = 0
    unmined_micros: int = 0  # USDC still to leave the hot wallet for claims in flight
    blocked: bool = False  # an attempt no node has accepted yet: send nothing new
    details: dict[str, str] = field(default_factory=dict)


class InFlight:
    def __init__(
        self,
        rpc: EvmRpc,
        store: PayoutStore,
        wallet: HotWallet,
        settings: EvmSettings,
        lock: asyncio.Lock,
    ) -> None:
        self._rpc, self._store, self._wallet = rpc, store, wallet
        self._settings, self._lock = settings, lock

    async def check(self, head: int) -> InFlightResult:
        result = InFlightResult()
        attempts = await self._store.attempts(self._settings.network, OPEN)
        claims = {
            c.id: c for c in await self._store.claims(self._settings.network, [ClaimStatus.SENT])
        }
        safe_block = head - self._settings.confirmations + 1
        used = await self._rpc.nonce(self._wallet.address)
        used_safely = await self._rpc.nonce(self._wallet.address, max(safe_block, 0))
        await self._fill_gaps(used, {a.nonce for a in attempts}, head)
        ordered = sorted(attempts, key=lambda a: (a.nonce, a.claim_id, a.max_fee))
        for claim_id, group in groupby(ordered, key=lambda a: a.claim_id):
            claim = claims.get(claim_id)
            if claim is not None:
                await self._follow(claim, list(group), head, (used, used_safely), result)
        return result

    async def _fill_gaps(self, used: int, taken: set[int], head: int) -> None:
        handed_out = await self._store.peek_nonce(self._settings.network, self._wallet.address)
        gaps = [n for n in range(used, handed_out) if n not in taken]
        if not gaps:
            return
        fees = plan(FILLER_GAS, await self._rpc.fees(), self._settings)
        async with self._lock:
            for nonce in gaps:
                filler = self._wallet.sign(
                    {
                        "type": 2,
                        "chainId": self._settings.chain_id,
                        "nonce": nonce,
                        "to": self._wallet.address,
                        "value": 0,
                        "gas": FILLER_GAS,
                        "maxFeePerGas": fees.max_fee,
                        "maxPriorityFeePerGas": fees.priority_fee,
                    }
                )
                sent = await self._rpc.send_raw(filler.raw)
                log.warning(
                    "nonce gap filled",
                    extra={"nonce": nonce, "tx_hash": filler.tx_hash, "outcome": sent.outcome},
                )

    async def _follow(
        self,
        claim: Claim,
        group: list[Attempt],
        head: int,
        used: tuple[int, int],
        result: InFlightResult,
    ) -> None:
        for attempt in group:
            receipt = await self._rpc.receipt(attempt.tx_hash)
            if receipt is not None:
                return await self._mined(claim, attempt, receipt, head, result)
        nonce = group[0].nonce
        if used[1] > nonce:
            for attempt in group:
                await self._store.set_attempt_state(attempt.tx_hash, AttemptState.DEAD)
            await self._store.release(
                claim.id,
                f"pending: nonce {nonce} was used by another transaction from the hot "
                "wallet, so this payout was not sent; it is sent again",
            )
            result.released += 1
            return None
        result.unmined_micros += claim.micros
        if used[0] <= nonce:  # free: ours to (re)send; else mined just now, look next tick
            await self._push(claim, group[-1], head, result)
        return None

    async def _mined(
        self, claim: Claim, attempt: Attempt, receipt: Receipt, head: int, result: InFlightResult
    ) -> None:
        confirmations = head - receipt.block.number + 1
        if confirmations < self._settings.confirmations:
            if attempt.state is AttemptState.SIGNED:
                await self._store.set_attempt_state(attempt.tx_hash, AttemptState.SENT)
            detail = (
                f"sent: {attempt.tx_hash} mined in block {receipt.block.number}, "
                f"{confirmations}/{self._settings.confirmations} confirmations"
            )
            await self._store.set_detail(claim.id, detail)
            result.details[claim.id] = detail
            return
        if receipt.succeeded:
            await self._store.confirm(attempt, receipt.block)
            result.confirmed += 1
            log.info(
                "payout confirmed",
                extra={
                    "claim_id": claim.id,
                    "tx_hash": attempt.tx_hash,
                    "block": receipt.block.number,
                    "amount": show(from_micros(claim.micros)),
                },
            )
            return
        await self._store.set_attempt_state(attempt.tx_hash, AttemptState.REVERTED)
        for other in await self._store.attempts(self._settings.network, OPEN):
            if other.claim_id == claim.id:
                await self._store.set_attempt_state(other.tx_hash, AttemptState.DEAD)
        await self._store.release(
            claim.id,
            f"pending: the transfer {attempt.tx_hash} failed on chain (reverted) and moved "
            "nothing; it is sent again",
        )
        result.released += 1
        log.warning("payout transaction reverted", extra={"claim_id": claim.id})

    async def _push(self, claim: Claim, newest: Attempt, head: int, result: InFlightResult) -> None:
        """Re-broadcast the newest attempt if no node has it; replace it if stuck."""
        if head - newest.created_block >= self._settings.stuck_after_blocks:
            newest = await self._replace(claim, newest, head, result)
        if await self._rpc.known(newest.tx_hash):
            if newest.state is AttemptState.SIGNED:
                await self._store.set_attempt_state(newest.tx_hash, AttemptState.SENT)
            return
        async with self._lock:
            sent = await broadcast(self._rpc, self._store, newest)
        if sent.outcome not in ACCEPTED:
            result.blocked = True
            detail = refusal(sent, self._wallet.address)
            await self._store.set_detail(claim.id, detail)
            result.details[claim.id] = detail

    async def _replace(
        self, claim: Claim, stuck: Attempt, head: int, result: InFlightResult
    ) -> Attempt:
        fees = await self._rpc.fees()
        previous = FeePlan(stuck.gas, stuck.max_fee, stuck.priority_fee)
        try:
            higher = bump(previous, fees, self._settings)
        except FeeCapped as exc:
            detail = f"sent, stuck: {stuck.tx_hash} waits in the mempool: {exc}"
            await self._store.set_detail(claim.id, detail)
            result.details[claim.id] = detail
            return stuck
        async with self._lock:
            replacement = sign_attempt(
                self._wallet, self._rpc, self._settings, claim, stuck.nonce, higher, head
            )
            await self._store.add_attempt(replacement)
        log.info(
            "payout re-sent with a higher fee",
            extra={"claim_id": claim.id, "tx_hash": replacement.tx_hash, "nonce": stuck.nonce},
        )
        return replace(replacement, state=AttemptState.SIGNED)
