"""Deposits: a USDC transfer to an account's deposit address is credited to that account
once, after the configured confirmations, across restarts and re-orgs."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from infernet.settlement.evm.config import EvmSettings
from infernet.settlement.evm.hdkeys import ExtendedPrivateKey
from infernet.settlement.records import ChainTransfer, DepositState
from tests.settlement.chain import TestChain
from tests.settlement.conftest import SEED, Reopen, settlement
from tests.settlement.db_store import StoreUnderTest, available

FIVE = 5_000_000  # 5 USDC in micros


async def _deposit_address(
    chain: TestChain, store: StoreUnderTest, s: EvmSettings, account: str
) -> str:
    found = await settlement(chain, store, s).deposit_instructions(account)
    assert found.address is not None
    return found.address


async def test_deposit_addresses_are_per_account_stable_and_derived_from_the_seed(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings
) -> None:
    adapter = settlement(chain, store, settings)
    first = await adapter.deposit_instructions("acct_a")
    again = await adapter.deposit_instructions("acct_a")
    other = await adapter.deposit_instructions("acct_b")
    assert first.address == again.address != other.address
    # The operator's wallet holds the key of address i (m/44'/60'/0'/0/i): it can sweep.
    key = ExtendedPrivateKey.from_seed(SEED).derive("m/44'/60'/0'/0/0")
    assert Account.from_key(key.secret).address == first.address
    assert first.payment_uri == (
        f"ethereum:{chain.token}@{settings.chain_id}/transfer?address={first.address}"
    )
    assert "3 confirmations" in first.note


async def test_deposit_is_credited_once_after_the_confirmations(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings
) -> None:
    adapter = settlement(chain, store, settings)
    address = await _deposit_address(chain, store, settings, "acct_a")
    await adapter.tick()  # the watcher starts at the current head
    client = await chain.funded_account(micros=FIVE)
    await chain.send_usdc(client, address, FIVE)  # mined at once: 1 confirmation

    report = await adapter.tick()
    assert (report.credited, report.unconfirmed) == (0, 1)
    [seen] = await store.deposits("base", [DepositState.UNCONFIRMED])
    assert seen.confirmations == 1 and seen.account_id == "acct_a"
    assert await store.balance(available("acct_a")) == 0

    chain.mine(1)
    assert (await adapter.tick()).credited == 0  # 2 of 3
    chain.mine(1)
    assert (await adapter.tick()).credited == 1
    assert await store.balance(available("acct_a")) == FIVE
    for _ in range(3):
        chain.mine(2)
        assert (await adapter.tick()).credited == 0
    assert await store.balance(available("acct_a")) == FIVE
    assert await store.posted("deposit") == 1
    [credited] = await store.deposits("base", [DepositState.CREDITED])
    assert credited.transfer.micros == FIVE and credited.transfer.recipient == address


async def test_the_same_log_seen_twice_is_credited_once(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, reopen: Reopen
) -> None:
    adapter = settlement(chain, store, settings)
    address = await _deposit_address(chain, store, settings, "acct_a")
    await adapter.tick()
    client = await chain.funded_account(micros=FIVE)
    await chain.send_usdc(client, address, FIVE)
    chain.mine(3)
    assert (await adapter.tick()).credited == 1

    # The control plane dies after the credit and before its checkpoint: the restarted
    # watcher scans the same blocks again and sees the same log.
    await store.rewind("base", (await store.checkpoints("base", 16))[-1])
    restarted_store = await reopen()
    restarted = settlement(chain, restarted_store, settings)
    assert (await restarted.tick()).credited == 0
    [transfer] = await restarted._rpc.transfers(0, await chain.head(), recipients=[address])
    assert await restarted_store.credit(transfer, "acct_a") is False
    assert await restarted_store.balance(available("acct_a")) == FIVE
    assert await restarted_store.posted("deposit") == 1


async def test_a_restart_resumes_from_the_last_processed_block(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings, reopen: Reopen
) -> None:
    address = await _deposit_address(chain, store, settings, "acct_a")
    await settlement(chain, store, settings).tick()
    client = await chain.funded_account(micros=3 * FIVE)
    await chain.send_usdc(client, address, FIVE)
    chain.mine(3)
    await settlement(chain, store, settings).tick()
    last = (await store.checkpoints("base", 1))[0].number
    await store.close()

    # While it is down: another deposit and 20 blocks (more than one scan range).
    await chain.send_usdc(client, address, 2 * FIVE)
    chain.mine(20)
    reopened = await reopen()
    restarted = settlement(chain, reopened, settings)
    scanned: list[int] = []
    read_logs = restarted._rpc.transfers

    async def recording(start: int, end: int, **kw: Any) -> list[ChainTransfer]:
        scanned.append(start)
        return await read_logs(start, end, **kw)

    restarted._rpc.transfers = recording  # type: ignore[method-assign]
    report = await restarted.tick()
    assert report.credited == 1
    assert await reopened.balance(available("acct_a")) == 3 * FIVE
    assert min(scanned) == last + 1  # from where it stopped, not from the start


async def test_a_reorg_before_the_confirmations_drops_the_deposit_without_credit(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings
) -> None:
    adapter = settlement(chain, store, settings)
    address = await _deposit_address(chain, store, settings, "acct_a")
    client = await chain.funded_account(micros=FIVE)
    await adapter.tick()
    fork = chain.snapshot()
    await chain.send_usdc(client, address, FIVE)
    assert (await adapter.tick()).unconfirmed == 1

    chain.reorg(fork, blocks=6)  # the deposit's block is replaced by empty ones
    report = await adapter.tick()
    assert (report.credited, report.reversed, report.unconfirmed) == (0, 0, 0)
    [dropped] = await store.deposits("base", [DepositState.DROPPED])
    assert "left the chain" in dropped.detail
    assert await store.balance(available("acct_a")) == 0
    assert await store.posted("deposit") == 0


async def test_a_reorg_deeper_than_the_confirmations_reverses_the_credit(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings
) -> None:
    adapter = settlement(chain, store, settings)
    address = await _deposit_address(chain, store, settings, "acct_a")
    client = await chain.funded_account(micros=FIVE)
    await adapter.tick()
    fork = chain.snapshot()
    await chain.send_usdc(client, address, FIVE)
    chain.mine(3)
    assert (await adapter.tick()).credited == 1
    # The client spends 2 USDC of it before the re-org is seen.
    await store.hold("acct_a", 2_000_000)

    chain.reorg(fork, blocks=10)
    report = await adapter.tick()
    assert report.reversed == 1 and report.credited == 0
    [gone] = await store.deposits("base", [DepositState.REVERSED])
    assert gone.transfer.micros == FIVE
    assert await store.balance(available("acct_a")) == 0
    assert await store.balance("external:credit_losses") == -2_000_000  # spent before the reversal
    assert await store.balance("external:deposits") == 0  # nothing came in, in the end


async def test_a_deposit_reincluded_after_a_reorg_is_moved_not_credited_twice(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings
) -> None:
    adapter = settlement(chain, store, settings)
    address = await _deposit_address(chain, store, settings, "acct_a")
    client = await chain.funded_account(micros=FIVE)
    await adapter.tick()
    fork = chain.snapshot()
    chain.automine(False)
    tx = await chain.usdc.functions.transfer(address, FIVE).build_transaction(
        {
            "from": client.address,
            "nonce": 0,
            "gas": 100_000,
            "maxFeePerGas": 50 * 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    raw = client.sign_transaction(tx).raw_transaction
    await chain.w3.eth.send_raw_transaction(raw)
    chain.mine(4)
    assert (await adapter.tick()).credited == 1
    old = (await store.deposits("base", [DepositState.CREDITED]))[0].transfer

    chain.tester.revert_to_snapshot(fork)  # the nodes of the new fork include it later
    chain.mine(2, coinbase="0x" + "ee" * 20)
    await chain.w3.eth.send_raw_transaction(raw)
    chain.mine(6, coinbase="0x" + "ee" * 20)
    report = await adapter.tick()
    assert (report.credited, report.reversed) == (0, 0)
    [moved] = await store.deposits("base", [DepositState.CREDITED])
    assert moved.transfer.tx_hash == old.tx_hash
    assert moved.transfer.block != old.block
    assert await store.balance(available("acct_a")) == FIVE
    assert await store.posted("deposit") == 1 and await store.posted("deposit_reversal") == 0


async def test_a_fork_below_every_checkpoint_stops_crediting(
    chain: TestChain, store: StoreUnderTest, settings: EvmSettings
) -> None:
    adapter = settlement(chain, store, settings, checkpoint_history=2, max_block_range=1)
    await _deposit_address(chain, store, settings, "acct_a")
    fork = chain.snapshot()
    chain.mine(8)
    await adapter.tick()
    chain.mine(4)
    await adapter.tick()  # checkpoints kept: the last 2 blocks it scanned
    chain.reorg(fork, blocks=20)
    report = await adapter.tick()
    assert report.errors and "none of the last 2 checkpointed blocks" in report.errors[0]
    assert report.credited == 0
