"""Fixtures: a fresh in-process chain with the USDC contract, the control plane's
settlement store on a fresh database (each test runs on SQLite and on PostgreSQL), and
EVM settlement over them (built as the control plane builds it, with the test chain's
provider in place of an HTTP endpoint)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("eth_tester", reason="the dev profile installs eth-tester (settlement tests)")

from infernet.settlement.evm.adapter import EvmSettlement
from infernet.settlement.evm.config import EvmSettings
from infernet.settlement.evm.hdkeys import DepositAddresses, deposit_xpub_from_seed
from infernet.settlement.evm.hotwallet import HotWallet
from infernet.settlement.evm.rpc import EvmRpc
from infernet.settlement.settings import SettlementSettings
from tests.settlement.chain import TestChain, settings_values
from tests.settlement.db_store import StoreUnderTest
from tests.settlement.rpc_server import ChainServer
from tests.support.postgres import PostgresServer

SEED = bytes(range(64))  # the platform's deposit seed (offline in production)
XPUB = deposit_xpub_from_seed(SEED)
HOT_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


@pytest.fixture
async def chain() -> TestChain:
    made = TestChain()
    await made.deploy()
    return made


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return asyncio.run(server.create_database())


Reopen = Callable[[], Awaitable[StoreUnderTest]]


@pytest.fixture
async def reopen(database_url: str) -> AsyncIterator[Reopen]:
    """Open the store (again) on the same database: a restarted control plane."""
    opened: list[StoreUnderTest] = []

    async def again() -> StoreUnderTest:
        opened.append(await StoreUnderTest.open(database_url))
        return opened[-1]

    yield again
    for store in opened:
        await store.close()


@pytest.fixture
async def store(reopen: Reopen) -> StoreUnderTest:
    return await reopen()


@pytest.fixture
async def settings(chain: TestChain) -> EvmSettings:
    return EvmSettings.model_validate(settings_values(await chain.chain_id(), chain.token))


def settlement(
    chain: TestChain,
    store: Any,
    settings: EvmSettings,
    *,
    wallet: HotWallet | None = None,
    xpub: str | None = XPUB,
    **overrides: Any,
) -> EvmSettlement:
    """EVM settlement as `EvmSettlement.open` builds it, on the test chain's provider."""
    chosen = settings.model_copy(update=overrides)
    rpc = EvmRpc(chain.w3, chosen.network, chosen.usdc_address)
    addresses = DepositAddresses(xpub) if xpub else None
    return EvmSettlement(chosen, rpc, store, wallet, addresses)


@pytest.fixture
async def hot_wallet(chain: TestChain) -> HotWallet:
    wallet = HotWallet(HOT_KEY)
    await chain.give_eth(wallet.address, 10**18)
    return wallet


@pytest.fixture
async def served(chain: TestChain) -> AsyncIterator[ChainServer]:
    """The chain on loopback JSON-RPC, for a control plane's --rpc-url."""
    server = ChainServer(chain)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def hot_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "hot-wallet.key"
    path.write_text("0x" + HOT_KEY.hex() + "\n")
    path.chmod(0o600)
    return path


def evm_mode(
    chain: TestChain, server: ChainServer, key_file: Path | None, **chosen: Any
) -> SettlementSettings:
    """`--settlement evm` on the served test chain (settings_values' fees and ranges)."""
    values = settings_values(int(chain.tester.backend.chain.chain_id), chain.token)
    fixed = ("network", "rpc_url", "chain_id", "usdc_address", "confirmations")
    defaults: dict[str, Any] = {
        "mode": "evm",
        "rpc_url": server.url,
        "chain_id": values["chain_id"],
        "usdc_address": values["usdc_address"],
        "confirmations": values["confirmations"],
        "deposit_xpub": XPUB,
        "hot_wallet_key_file": str(key_file) if key_file else None,
        "start_block": 0,
        "tick_interval_s": 0.1,
        "overrides": {k: v for k, v in values.items() if k not in fixed},
    }
    return SettlementSettings.model_validate(defaults | chosen)


def flags(chosen: SettlementSettings) -> list[str]:
    """The command-line form of `chosen` (`infernet cp serve|reconcile` options)."""
    argv = ["--settlement", chosen.mode, "--rpc-url", str(chosen.rpc_url)]
    argv += ["--confirmations", str(chosen.confirmations)]
    if chosen.hot_wallet_key_file:
        argv += ["--hot-wallet-key-file", chosen.hot_wallet_key_file]
    if chosen.deposit_xpub:
        argv += ["--deposit-xpub", chosen.deposit_xpub]
    named = ("chain_id", "usdc_address", "start_block", "tick_interval_s", "reconcile_interval_s")
    for key, value in {**{k: getattr(chosen, k) for k in named}, **chosen.overrides}.items():
        argv += ["--settlement-setting", f"{key}={value}"]
    return argv
