"""A control plane settling USDC on a chain (`infernet cp serve --settlement evm`, a real
process) is killed with SIGKILL at random points while deposits arrive and payouts are
paid, and restarted; every time, once it has caught up, the ledger must agree with the
chain: reconciliation finds no difference, each deposit is credited exactly once and
each claim is paid exactly once.

The chain is the in-process test chain (eth-tester on py-evm, a real ERC-20 USDC) served
over loopback JSON-RPC, with a block every 0.3 s. CI runs `ROUNDS` kills (a few
seconds each); `INFERNET_CHAOS_SETTLEMENT_ROUNDS=200` runs a longer loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.ledger import Ledger
from infernet.controlplane.money.settlement_store import DbSettlementStore
from infernet.controlplane.store.db import open_database
from infernet.controlplane.store.ledger import all_balances
from infernet.protocol.money import from_micros
from infernet.settlement.evm.hotwallet import HotWallet
from infernet.settlement.factory import open_settlement
from infernet.settlement.reconcile import ReconciliationReport
from infernet.settlement.records import ClaimStatus, DepositState
from tests.browser.support import LoopThread
from tests.chaos.processes import ControlPlane
from tests.settlement.chain import TestChain
from tests.settlement.conftest import HOT_KEY, evm_mode, flags
from tests.settlement.rpc_server import ChainServer

pytest.importorskip("eth_tester", reason="the dev profile installs eth-tester")

ROUNDS = int(os.environ.get("INFERNET_CHAOS_SETTLEMENT_ROUNDS", "4"))
BLOCK_S = 0.3
SETTLE_S = 60.0  # a bound on catching up after a restart, not a speed


class World:
    """The chain (on its own loop thread), the control plane process, and what the test
    did: each deposit sent and each claim made."""

    def __init__(self, home: Path) -> None:
        self.home, self.loop = home, LoopThread()
        self.db = f"sqlite+aiosqlite:///{home / 'cp.db'}"
        self.chain, self.server = self.loop.run(self._chain())
        self._mining = self.loop.run(self._start_mining())
        key_file = home / "hot.key"
        key_file.write_text(HOT_KEY.hex())
        key_file.chmod(0o600)
        chosen = evm_mode(self.chain, self.server, key_file, confirmations=2, tick_interval_s=0.25)
        # Wide log queries: reconciliation reads the whole (growing) chain each time.
        wide = chosen.overrides | {"max_block_range": 1000}
        self.settlement = chosen.model_copy(update={"overrides": wide})
        self.cp: ControlPlane | None = None
        self.deposits: dict[str, int] = {}  # account -> micros sent to its address
        self.sent = 0
        self.claims: dict[str, int] = {}  # destination -> micros claimed to it
        self.rng = random.Random(int(os.environ.get("INFERNET_CHAOS_SEED", "21")))

    async def _chain(self) -> tuple[TestChain, ChainServer]:
        chain = TestChain()
        await chain.deploy()
        wallet = HotWallet(HOT_KEY)
        await chain.give_eth(wallet.address, 10**19)
        await chain.mint(wallet.address, 10**12)
        server = ChainServer(chain)
        await server.start()
        return chain, server

    async def _start_mining(self) -> asyncio.Task[None]:
        async def produce() -> None:
            while True:
                await asyncio.sleep(BLOCK_S)
                self.chain.mine(1)

        return asyncio.create_task(produce())

    def start_cp(self) -> ControlPlane:
        self.cp = ControlPlane(self.home, self.db, *flags(self.settlement))
        return self.cp

    def close(self) -> None:
        if self.cp is not None:
            self.cp.close()
        self.loop.run(self._stop())
        self.loop.close()

    async def _stop(self) -> None:
        self._mining.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._mining
        await self.server.stop()

    def signup(self, name: str) -> tuple[str, str]:
        assert self.cp is not None
        made = httpx.post(f"{self.cp.url}/api/v1/accounts", json={"name": name}, timeout=10)
        assert made.status_code == 201, made.text
        return made.json()["account"]["id"], made.json()["api_key"]["key"]

    def api(self, key: str) -> httpx.Client:
        assert self.cp is not None
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.cp.url, headers=headers, timeout=10)

    def deposit(self, account: str, key: str) -> None:
        with self.api(key) as api:
            address = api.get("/api/v1/billing/deposit-address").json()["address"]
        micros = self.rng.randint(1, 50) * 100_000

        async def send() -> None:
            client = await self.chain.funded_account(micros=micros)
            await self.chain.send_usdc(client, address, micros)

        self.loop.run(send())
        self.deposits[account] = self.deposits.get(account, 0) + micros
        self.sent += 1

    def claim(self, operator: str, key: str) -> None:
        """The operator earns (test-side, as finished jobs would pay it) and claims."""
        micros = self.rng.randint(10, 40) * 100_000  # above base's 1.00 minimum
        destination = str(Account.create().address)
        self.loop.run(self._earn(operator, micros))
        with self.api(key) as api:
            body = {"network": "base", "address": destination}
            assert api.put("/api/v1/payouts/address", json=body).status_code == 200
            made = api.post("/api/v1/payouts", json={})
        assert made.status_code == 201, made.text
        self.claims[destination] = micros

    async def _earn(self, owner: str, micros: int) -> None:
        db = await open_database(self.db)
        try:
            amount = from_micros(micros)
            moves = [("external:test_earnings", -amount), (accounts.earnings(owner), amount)]
            await Ledger(db).post("test_earning", f"earned:{owner}:{time.time_ns()}", moves)
        finally:
            await db.dispose()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    try:
        yield made
    finally:
        made.close()


async def _progress(world: World) -> tuple[int, int]:
    """(deposits credited, claims not paid yet), read from the database."""
    db = await open_database(world.db)
    try:
        store = DbSettlementStore(db, Ledger(db))
        credited = await store.deposits("base", [DepositState.CREDITED])
        unpaid = await store.claims("base", [ClaimStatus.PENDING, ClaimStatus.SENT])
        return len(credited), len(unpaid)
    finally:
        await db.dispose()


async def _books(world: World) -> tuple[ReconciliationReport, dict[str, int]]:
    """Reconcile as `infernet cp reconcile` does; every ledger balance."""
    db = await open_database(world.db)
    try:
        settlement = open_settlement(world.settlement, DbSettlementStore(db, Ledger(db)))
        try:
            report = await settlement.reconcile()
        finally:
            await settlement.close()
        return report, await all_balances(db)
    finally:
        await db.dispose()


def caught_up(world: World) -> tuple[ReconciliationReport, dict[str, int]]:
    """Wait until every deposit sent is credited and every claim paid; the books then."""
    deadline = time.monotonic() + SETTLE_S
    while world.loop.run(_progress(world)) != (world.sent, 0):
        if time.monotonic() > deadline:
            break
        time.sleep(0.3)
    return world.loop.run(_books(world))


def check(world: World, report: ReconciliationReport, balances: dict[str, int]) -> None:
    assert report.ok, "\n".join(report.lines())
    assert world.loop.run(_progress(world)) == (world.sent, 0)  # all credited, all paid
    assert sum(balances.values()) == 0  # money is conserved
    for account, micros in world.deposits.items():  # each deposit credited exactly once
        assert balances.get(accounts.client_available(account), 0) == micros, account
    for destination, micros in world.claims.items():  # each claim paid exactly once
        assert world.loop.run(world.chain.balance(destination)) == micros, destination
    assert balances.get(accounts.EXTERNAL_PAYOUTS, 0) == sum(world.claims.values())


@pytest.mark.timeout(120 + 40 * ROUNDS)
def test_killed_at_random_points_of_deposits_and_payouts_the_books_match_the_chain(
    world: World,
) -> None:
    world.start_cp()
    clients = [world.signup(f"client{i}") for i in range(3)]
    operators = [world.signup(f"operator{i}") for i in range(2)]
    for round_ in range(ROUNDS):
        for _ in range(world.rng.randint(1, 3)):
            world.deposit(*world.rng.choice(clients))
        for _ in range(world.rng.randint(1, 2)):
            world.claim(*world.rng.choice(operators))
        time.sleep(world.rng.uniform(0.0, 1.2))  # somewhere in crediting and paying
        assert world.cp is not None
        world.cp.kill()
        killed = time.monotonic()
        world.start_cp()  # a new process: it recovers, then catches up
        report, balances = caught_up(world)
        print(f"kill {round_ + 1}: caught up in {time.monotonic() - killed:.1f} s")
        try:
            check(world, report, balances)
        except AssertionError as exc:
            assert world.cp is not None
            log = world.cp.log.read_text()[-3000:]
            raise AssertionError(f"after kill {round_ + 1}: {exc}\n{log}") from exc
    print(f"\n{ROUNDS} kills, {world.sent} deposits, {len(world.claims)} payouts: books match")
