"""Reconciliation reports every difference between the records and the chain, and none
when they agree."""

from __future__ import annotations

from eth_account import Account

from infernet.settlement.evm.config import EvmSettings
from infernet.settlement.evm.hotwallet import HotWallet
from infernet.settlement.ledger_mode import LedgerSettlement
from infernet.settlement.records import ChainTransfer, Checkpoint, ClaimStatus
from tests.settlement.chain import TestChain
from tests.settlement.conftest import HOT_KEY, settlement
from tests.settlement.db_store import StoreUnderTest

FIVE = 5_000_000


async def _world(chain: TestChain, store: StoreUnderTest, settings: EvmSettings, wallet: HotWallet):  # type: ignore[no-untyped-def]
    """One credited deposit and one confirmed payout: records and chain agree."""
    adapter = settlement(chain, store, settings, wallet=wallet)
    address = (await adapter.deposit_instructions("acct_a")).address
    assert address is not None
    await adapter.tick()
    client = await chain.funded_account(micros=FIVE)
    await chain.send_usdc(client, address, FIVE)
    await chain.mint(wallet.address, 20_000_000)
    await store.add_claim("payout_1", "acct_op", "base", str(Account.create().address), FIVE)
    for _ in range(5):
        await adapter.tick()
        chain.mine(1)
    assert (await store.claim("payout_1")).status is ClaimStatus.CONFIRMED
    return adapter, address


async def test_records_that_agree_with_the_chain_reconcile_clean(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, hot_wallet: HotWallet
) -> None:
    adapter, _ = await _world(chain, store, settings, hot_wallet)
    report = await adapter.reconcile()
    assert report.ok, report.lines()
    assert report.checked["credits"] == 1 and report.checked["confirmed payouts"] == 1
    assert "no differences" in report.lines()[0]


async def test_reconciliation_finds_every_planted_difference(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, hot_wallet: HotWallet
) -> None:
    adapter, address = await _world(chain, store, settings, hot_wallet)
    head = await chain.head()
    # 1. a credit with no transfer behind it
    phantom = ChainTransfer(
        "base",
        "0x" + "ab" * 32,
        0,
        Checkpoint(head - 4, "0x" + "cd" * 32),
        "0x" + "11" * 20,
        address,
        7_000_000,
    )
    await store.credit(phantom, "acct_a")
    # 2. a deposit the watcher has not credited yet (listed, in progress)
    client = await chain.funded_account(micros=FIVE)
    await chain.send_usdc(client, address, 2_000_000)
    # 3. the confirmed payout recorded with another amount
    await store.plant_claim_amount("payout_1", 6_000_000)
    # 4. USDC taken out of the hot wallet by hand, with no claim
    await chain.send_usdc(Account.from_key(HOT_KEY), client.address, 1_000_000)
    # 5. a claim the hot wallet cannot cover
    await store.add_claim("payout_2", "acct_op", "base", client.address, 50_000_000)
    chain.mine(4)

    report = await adapter.reconcile()
    kinds = sorted(d.kind for d in report.differences)
    assert kinds == [
        "credit_without_transfer",
        "deposit_not_credited",
        "hot_wallet_short",
        "payout_mismatch",
        "transfer_without_payout",
    ], report.lines()
    by_kind = {d.kind: d for d in report.differences}
    assert by_kind["credit_without_transfer"].ledger_micros == 7_000_000
    assert by_kind["deposit_not_credited"].chain_micros == 2_000_000
    assert (by_kind["payout_mismatch"].ledger_micros, by_kind["payout_mismatch"].chain_micros) == (
        6_000_000,
        FIVE,
    )
    assert by_kind["transfer_without_payout"].chain_micros == 1_000_000
    assert by_kind["hot_wallet_short"].ledger_micros == 50_000_000
    assert len(report.lines()) == 1 + 5
    assert [d.kind for d in report.differences if d.in_progress] == ["deposit_not_credited"]
    assert not report.ok and "4 difference(s), 1 in progress" in report.lines()[0]


async def test_ledger_mode_has_no_chain_to_compare_and_says_so() -> None:
    mode = LedgerSettlement()
    report = await mode.reconcile()
    assert report.ok and "no USDC moves on a chain" in report.note
    instructions = await mode.deposit_instructions("acct_a")
    assert instructions.address is None and instructions.mode == "ledger"


async def test_a_deposit_the_watcher_has_not_reached_is_in_progress_not_a_failure(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, hot_wallet: HotWallet
) -> None:
    adapter, address = await _world(chain, store, settings, hot_wallet)
    client = await chain.funded_account(micros=FIVE)
    await chain.send_usdc(client, address, 2_000_000)  # e.g. sent while the CP was down
    chain.mine(4)

    report = await adapter.reconcile()
    [pending] = report.differences
    assert (pending.kind, pending.in_progress) == ("deposit_not_credited", True)
    assert report.ok and "1 in progress" in report.lines()[0]
    assert "(in progress)" in report.lines()[-1] and "the watcher is at block" in pending.detail
    await adapter.tick()
    assert (await adapter.reconcile()).differences == []
