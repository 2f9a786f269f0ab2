"""Payouts: each claim is paid by exactly one USDC transfer from the hot wallet, whatever
happens between the steps, and a claim that cannot be paid waits and says why."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from eth_account import Account

from infernet.settlement.evm.config import EvmSettings
from infernet.settlement.evm.hotwallet import HotWallet
from infernet.settlement.records import Attempt, AttemptState, Checkpoint, ClaimStatus
from tests.settlement.chain import TestChain
from tests.settlement.conftest import HOT_KEY, Reopen, settlement
from tests.settlement.db_store import StoreUnderTest

FIVE = 5_000_000


class Killed(BaseException):
    """The process dies here (not an Exception: nothing may catch it)."""


class KillingStore:
    """The store, except that the process dies at one step: `before` a method writes,
    or right `after` it wrote."""

    def __init__(self, inner: StoreUnderTest, method: str, when: str, match: Any = None) -> None:
        self._inner, self._method, self._when, self._match = inner, method, when, match

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if name != self._method:
            return found

        async def dying(*args: Any) -> Any:
            if self._match is not None and self._match not in args:
                return await found(*args)
            if self._when == "before":
                raise Killed(name)
            await found(*args)
            raise Killed(name)

        return dying


def _destination() -> str:
    return str(Account.create().address)


async def _settle(chain: TestChain, adapter: Any, rounds: int = 6) -> None:
    for _ in range(rounds):
        await adapter.tick()
        chain.mine(1)


async def test_a_claim_is_paid_once_after_the_confirmations(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, hot_wallet: HotWallet
) -> None:
    await chain.mint(hot_wallet.address, 100_000_000)
    to = _destination()
    await store.add_claim("payout_1", "acct_op", "base", to, FIVE)
    adapter = settlement(chain, store, settings, wallet=hot_wallet, xpub=None)

    assert (await adapter.tick()).sent == 1
    assert (await store.claim("payout_1")).status is ClaimStatus.SENT
    await adapter.tick()
    assert "1/3 confirmations" in (await store.claim("payout_1")).detail
    chain.mine(2)
    assert (await adapter.tick()).confirmed == 1

    paid = await store.claim("payout_1")
    assert paid.status is ClaimStatus.CONFIRMED and paid.tx_hash is not None
    await _settle(chain, adapter)
    assert await chain.balance(to) == FIVE
    assert await store.balance("external:payouts") == FIVE
    assert await store.balance("payout_pending:acct_op") == 0
    receipt = await chain.w3.eth.get_transaction_receipt(paid.tx_hash)
    assert receipt["status"] == 1


@pytest.mark.parametrize(
    ("method", "when"),
    [
        ("add_attempt", "after"),  # stored, never broadcast
        ("set_attempt_state", "before"),  # broadcast and mined; the store never heard back
        ("confirm", "before"),  # confirmed on chain; the ledger never moved
    ],
)
async def test_killed_between_sending_and_recording_still_pays_once(
    chain: TestChain,
    store: StoreUnderTest,
    settings: EvmSettings,
    hot_wallet: HotWallet,
    reopen: Reopen,
    method: str,
    when: str,
) -> None:
    await chain.mint(hot_wallet.address, 100_000_000)
    to = _destination()
    await store.add_claim("payout_1", "acct_op", "base", to, FIVE)
    dying = settlement(
        chain, KillingStore(store, method, when), settings, wallet=hot_wallet, xpub=None
    )
    with pytest.raises(Killed):
        await _settle(chain, dying)
    await store.close()

    restarted_store = await reopen()
    restarted = settlement(chain, restarted_store, settings, wallet=HotWallet(HOT_KEY), xpub=None)
    await restarted.start()  # recovery, then reconciliation
    await _settle(chain, restarted)

    assert await chain.balance(to) == FIVE  # paid, and only once
    claim = await restarted_store.claim("payout_1")
    assert claim.status is ClaimStatus.CONFIRMED
    assert await restarted_store.posted("payout_settled") == 1
    assert await restarted_store.balance("external:payouts") == FIVE
    assert (await restarted.reconcile()).ok


async def test_too_little_usdc_in_the_hot_wallet_waits_and_says_why(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, hot_wallet: HotWallet
) -> None:
    await chain.mint(hot_wallet.address, 1_000_000)
    to = _destination()
    await store.add_claim("payout_1", "acct_op", "base", to, FIVE)
    adapter = settlement(chain, store, settings, wallet=hot_wallet, xpub=None)

    report = await adapter.tick()
    why = report.waiting["payout_1"]
    assert "holds 1.000000 USDC" in why and "needs 5.000000 USDC" in why and "tops" in why
    claim = await store.claim("payout_1")
    assert (claim.status, claim.detail) == (ClaimStatus.PENDING, why)
    assert await chain.w3.eth.get_transaction_count(hot_wallet.address) == 0  # nothing sent
    assert await store.balance("payout_pending:acct_op") == FIVE  # still reserved

    await chain.mint(hot_wallet.address, 10_000_000)
    await _settle(chain, adapter)
    assert (await store.claim("payout_1")).status is ClaimStatus.CONFIRMED
    assert await chain.balance(to) == FIVE


async def test_no_hot_wallet_key_means_claims_wait_and_say_so(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings
) -> None:
    await store.add_claim("payout_1", "acct_op", "base", _destination(), FIVE)
    adapter = settlement(chain, store, settings, wallet=None, xpub=None)
    report = await adapter.tick()
    assert "no hot-wallet key is configured" in report.waiting["payout_1"]
    assert (await store.claim("payout_1")).status is ClaimStatus.PENDING


async def test_parallel_payouts_never_share_a_nonce(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, hot_wallet: HotWallet
) -> None:
    await chain.mint(hot_wallet.address, 100_000_000)
    destinations = {f"payout_{i}": (_destination(), (i + 1) * 1_000_000) for i in range(5)}
    for claim_id, (to, micros) in destinations.items():
        await store.add_claim(claim_id, "acct_op", "base", to, micros)
    adapter = settlement(chain, store, settings, wallet=hot_wallet, xpub=None)

    reports = await asyncio.gather(adapter.tick(), adapter.tick(), adapter.tick())
    assert sum(r.sent for r in reports) == 5  # each claim picked up once
    assert await store.nonces() == [0, 1, 2, 3, 4]
    await _settle(chain, adapter)
    for claim_id, (to, micros) in destinations.items():
        assert await chain.balance(to) == micros
        assert (await store.claim(claim_id)).status is ClaimStatus.CONFIRMED


async def test_a_nonce_used_by_another_transaction_is_paid_again_with_a_new_one(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, hot_wallet: HotWallet
) -> None:
    await chain.mint(hot_wallet.address, 100_000_000)
    to, other = _destination(), _destination()
    await store.add_claim("payout_1", "acct_op", "base", to, FIVE)
    adapter = settlement(chain, store, settings, wallet=hot_wallet, xpub=None)
    chain.automine(False)
    await adapter.tick()  # nonce 0, waiting in the mempool
    chain.drop_mempool()
    # Someone uses the hot wallet by hand: nonce 0 now moves 1 USDC elsewhere.
    await chain.send_usdc(Account.from_key(HOT_KEY), other, 1_000_000, nonce=0)
    chain.automine(True)
    chain.mine(1)

    await _settle(chain, adapter, rounds=8)
    assert await chain.balance(to) == FIVE
    claim = await store.claim("payout_1")
    assert claim.status is ClaimStatus.CONFIRMED
    states = {a.nonce: a.state for a in await store.all_attempts("payout_1")}
    assert states == {0: AttemptState.DEAD, 1: AttemptState.CONFIRMED}


async def test_a_transaction_the_node_lost_is_sent_again(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, hot_wallet: HotWallet
) -> None:
    await chain.mint(hot_wallet.address, 100_000_000)
    to = _destination()
    await store.add_claim("payout_1", "acct_op", "base", to, FIVE)
    adapter = settlement(chain, store, settings, wallet=hot_wallet, xpub=None)
    chain.automine(False)
    assert (await adapter.tick()).sent == 1
    chain.drop_mempool()  # the node restarted: nonce 0 is nowhere
    chain.automine(True)

    await _settle(chain, adapter)
    assert (await store.claim("payout_1")).status is ClaimStatus.CONFIRMED
    assert len(await store.all_attempts("payout_1")) == 1  # the same signed bytes, sent again
    assert await chain.balance(to) == FIVE


async def test_a_nonce_taken_but_never_used_is_filled_so_later_payouts_go_through(
    chain: TestChain,
    store: StoreUnderTest,
    settings: EvmSettings,
    hot_wallet: HotWallet,
    reopen: Reopen,
) -> None:
    await chain.mint(hot_wallet.address, 100_000_000)
    to = _destination()
    await store.add_claim("payout_1", "acct_op", "base", to, FIVE)
    dying = settlement(
        chain, KillingStore(store, "add_attempt", "before"), settings, wallet=hot_wallet, xpub=None
    )
    with pytest.raises(Killed):  # nonce 0 handed out, never stored in an attempt
        await dying.tick()
    assert await store.peek_nonce("base", hot_wallet.address) == 1

    adapter = settlement(chain, store, settings, wallet=hot_wallet, xpub=None)
    await _settle(chain, adapter)
    assert (await store.claim("payout_1")).status is ClaimStatus.CONFIRMED
    assert await chain.balance(to) == FIVE
    attempts = await store.all_attempts("payout_1")
    [paid] = [a for a in attempts if a.state is AttemptState.CONFIRMED]
    assert paid.nonce == 1  # nonce 0 went to a filler
    assert await chain.w3.eth.get_transaction_count(hot_wallet.address) == 2


async def test_a_stuck_transaction_is_replaced_with_a_higher_fee(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, hot_wallet: HotWallet
) -> None:
    await chain.mint(hot_wallet.address, 100_000_000)
    to = _destination()
    await store.add_claim("payout_1", "acct_op", "base", to, FIVE)
    adapter = settlement(chain, store, settings, wallet=hot_wallet, xpub=None)
    chain.automine(False)
    await adapter.tick()
    chain.drop_mempool()  # as if no block producer takes it at this fee
    chain.mine(3)  # stuck_after_blocks
    await adapter.tick()
    [first, second] = await store.all_attempts("payout_1")
    assert second.nonce == first.nonce
    assert second.max_fee >= first.max_fee * 9 // 8
    assert second.priority_fee >= first.priority_fee * 9 // 8
    chain.automine(True)
    chain.mine(1)
    await _settle(chain, adapter)
    claim = await store.claim("payout_1")
    assert claim.status is ClaimStatus.CONFIRMED and claim.tx_hash == second.tx_hash
    assert await chain.balance(to) == FIVE


async def test_a_transfer_that_fails_on_chain_is_sent_again_later(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, hot_wallet: HotWallet
) -> None:
    await chain.mint(hot_wallet.address, 100_000_000)
    to = _destination()
    await store.add_claim("payout_1", "acct_op", "base", to, FIVE)
    adapter = settlement(chain, store, settings, wallet=hot_wallet, xpub=None)
    chain.automine(False)
    await chain.pause(True)  # Circle pauses USDC; mined just before our transfer
    await adapter.tick()  # estimated on the state before the pause: it looks fine
    chain.mine(1)
    chain.automine(True)
    chain.mine(2)
    await adapter.tick()  # reverted: released, and not sent again while the token refuses
    claim = await store.claim("payout_1")
    assert claim.status is ClaimStatus.PENDING
    assert (
        claim.detail == "pending: the token would refuse this transfer (execution reverted: paused)"
    )
    assert await store.balance("payout_pending:acct_op") == FIVE  # nothing lost

    await chain.pause(False)
    await _settle(chain, adapter)
    assert await chain.balance(to) == FIVE
    assert (await store.claim("payout_1")).status is ClaimStatus.CONFIRMED
    states = [a.state for a in await store.all_attempts("payout_1")]
    assert states == [AttemptState.REVERTED, AttemptState.CONFIRMED]


def test_the_attempt_record_holds_what_recovery_needs() -> None:
    attempt = Attempt("c", "base", "0xabc", 3, "0x01", "0x02", 60_000, 10, 1, 7)
    assert attempt.state is AttemptState.SIGNED and attempt.state.open
    assert Checkpoint(1, "0x") == Checkpoint(1, "0x")
