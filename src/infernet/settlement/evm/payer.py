"""Payouts: pending claims become USDC transfers from the hot wallet, each paid once.

A tick first follows what is in flight (inflight.py), then sends new claims, oldest
first, while the hot wallet's USDC (less what is already on its way) covers them. A claim
that cannot be sent stays `pending` and its detail says why: no hot-wallet key, too
little USDC, the network fee above the cap, no gas money, an earlier transaction not yet
accepted. Nothing is lost while it waits: the amount stays reserved in the ledger.

Nonces: one lock per process covers taking a nonce, signing, storing the attempt and
broadcasting it, so transactions reach the node in nonce order and two payouts never
share one; the store hands out each nonce once (atomically), starting from the chain's
own count when that is ahead (someone else used the wallet). Ticks run one at a time, so
a claim is picked up once; one payer runs per network (the control plane runs it on one
replica, under a lease).

Batching several claims into one transaction would need a batch-transfer contract
(USDC has none); not done: each claim is one ERC-20 transfer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from infernet.protocol.money import from_micros, show
from infernet.settlement.evm.config import EvmSettings
from infernet.settlement.evm.fees import FeeCapped, FeePlan, plan
from infernet.settlement.evm.hotwallet import HotWallet
from infernet.settlement.evm.inflight import InFlight
from infernet.settlement.evm.rpc import EvmRpc, SendOutcome, WouldRevert
from infernet.settlement.evm.transactions import ACCEPTED, broadcast, refusal, sign_attempt
from infernet.settlement.records import AttemptState, Claim, ClaimStatus
from infernet.settlement.store import PayoutStore

log = logging.getLogger("infernet.settlement.payouts")
NO_WALLET = (
    "pending: no hot-wallet key is configured on this control plane, so payouts are not "
    "sent yet; the amount stays reserved for you in the ledger"
)


@dataclass(slots=True)
class PayResult:
    sent: int = 0
    confirmed: int = 0
    released: int = 0
    waiting: dict[str, str] = field(default_factory=dict)  # claim id -> why


class Payer:
    def __init__(
        self, rpc: EvmRpc, store: PayoutStore, wallet: HotWallet | None, settings: EvmSettings
    ) -> None:
        self._rpc, self._store, self._wallet, self._settings = rpc, store, wallet, settings
        self._lock = asyncio.Lock()  # nonce, sign, store, broadcast: one at a time
        self._ticking = asyncio.Lock()  # one tick at a time: a claim is picked up once
        self._inflight = (
            InFlight(rpc, store, wallet, settings, self._lock) if wallet is not None else None
        )

    @property
    def wallet_address(self) -> str | None:
        return self._wallet.address if self._wallet is not None else None

    async def tick(self) -> PayResult:
        async with self._ticking:
            return await self._tick()

    async def _tick(self) -> PayResult:
        pending = await self._store.claims(self._settings.network, [ClaimStatus.PENDING])
        if self._wallet is None or self._inflight is None:
            for claim in pending:
                if claim.detail != NO_WALLET:
                    await self._store.set_detail(claim.id, NO_WALLET)
            return PayResult(waiting={c.id: NO_WALLET for c in pending})
        head = await self._rpc.head()
        flight = await self._inflight.check(head)
        result = PayResult(confirmed=flight.confirmed, released=flight.released)
        result.waiting.update(flight.details)
        if flight.released:  # released claims are pending again: pay them in this tick
            pending = await self._store.claims(self._settings.network, [ClaimStatus.PENDING])
        if flight.blocked:
            why = "pending: an earlier payout transaction is not accepted by the node yet"
            await self._wait_all(pending, why, result)
            return result
        balance = await self._rpc.token_balance(self._wallet.address) - flight.unmined_micros
        ready: list[Claim] = []
        for claim in pending:
            if claim.micros > balance:
                await self._wait(claim, self._short(claim, balance, flight.unmined_micros), result)
            else:
                balance -= claim.micros
                ready.append(claim)
        outcomes = await asyncio.gather(*(self._send(c, head) for c in ready))
        for claim, refused in zip(ready, outcomes, strict=True):
            if refused is None:
                result.sent += 1
            else:
                await self._wait(claim, refused, result)
        return result

    async def tick_in_flight(self) -> PayResult:
        """Only follow what is in flight (recovery at start): nothing new is sent."""
        if self._inflight is None:
            return PayResult()
        async with self._ticking:
            flight = await self._inflight.check(await self._rpc.head())
        return PayResult(
            confirmed=flight.confirmed, released=flight.released, waiting=flight.details
        )

    def _short(self, claim: Claim, available: int, in_flight: int) -> str:
        assert self._wallet is not None
        held = show(from_micros(available + in_flight))
        return (
            f"pending: the hot wallet {self._wallet.address} holds {held} USDC, "
            f"{show(from_micros(in_flight))} of it on its way to earlier payouts; this payout "
            f"needs {show(from_micros(claim.micros))} USDC. It is sent when the operator tops "
            "the hot wallet up."
        )

    async def _wait(self, claim: Claim, why: str, result: PayResult) -> None:
        result.waiting[claim.id] = why
        if claim.detail != why:
            await self._store.set_detail(claim.id, why)
            log.info("payout waits", extra={"claim_id": claim.id, "why": why})

    async def _wait_all(self, claims: list[Claim], why: str, result: PayResult) -> None:
        for claim in claims:
            await self._wait(claim, why, result)

    async def _fees(self, claim: Claim) -> FeePlan:
        assert self._wallet is not None
        estimate = await self._rpc.estimate_transfer(
            self._wallet.address, claim.address, claim.micros
        )
        chosen = plan(estimate, await self._rpc.fees(), self._settings)
        gas_money = await self._rpc.native_balance(self._wallet.address)
        if gas_money < chosen.max_cost:
            raise FeeCapped(
                f"the hot wallet {self._wallet.address} holds {gas_money} wei of the chain's "
                f"native coin and this payout may cost up to {chosen.max_cost} wei of gas; "
                "the operator tops it up"
            )
        return chosen

    async def _send(self, claim: Claim, head: int) -> str | None:
        """Send one claim; None when a node took it, else why it waits."""
        assert self._wallet is not None
        try:
            fees = await self._fees(claim)
        except FeeCapped as exc:
            return f"pending: {exc}"
        except WouldRevert as exc:
            return f"pending: the token would refuse this transfer ({exc})"
        async with self._lock:
            floor = await self._rpc.nonce(self._wallet.address)
            nonce = await self._store.next_nonce(
                self._settings.network, self._wallet.address, floor
            )
            attempt = sign_attempt(
                self._wallet, self._rpc, self._settings, claim, nonce, fees, head
            )
            await self._store.add_attempt(attempt)  # before the node sees it
            sent = await broadcast(self._rpc, self._store, attempt)
        if sent.outcome in ACCEPTED:
            log.info(
                "payout sent",
                extra={"claim_id": claim.id, "tx_hash": attempt.tx_hash, "nonce": nonce},
            )
            return None
        if sent.outcome is SendOutcome.NONCE_USED:  # taken meanwhile: never mined, pay anew
            await self._store.set_attempt_state(attempt.tx_hash, AttemptState.DEAD)
            await self._store.release(claim.id, "pending: its nonce was taken; sent again")
        return refusal(sent, self._wallet.address)
