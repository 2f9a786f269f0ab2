"""A control plane run with `--settlement evm` against the test chain over loopback
JSON-RPC: clients fund their accounts by sending USDC to their own deposit address,
operators' claims are paid from the hot wallet with the transaction hash shown, and a
difference between ledger and chain is alerted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from eth_account import Account

from infernet.backends.engine_process import free_port
from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.settings import Settings
from infernet.controlplane.store import dashboard as dashboard_store
from infernet.controlplane.store.accounts import create_account
from infernet.controlplane.store.db import open_database
from infernet.protocol.money import usdc
from infernet.settlement.evm.hotwallet import HotWallet
from infernet.settlement.settings import SettlementSettings
from tests.settlement.chain import TestChain
from tests.settlement.conftest import HOT_KEY, evm_mode
from tests.settlement.rpc_server import ChainServer
from tests.support.harness import Harness, running

FIVE = 5_000_000


def settings_for(settlement: SettlementSettings, tmp_path: Path, **more: Any) -> Settings:
    return Settings(
        payments_enabled=True,
        platform_key_path=str(tmp_path / "platform.key"),
        settlement=settlement,
        **more,
    )


async def until(
    chain: TestChain, check: Callable[[], Awaitable[bool]], timeout: float = 30, mine: bool = True
) -> None:
    """Mine a block at a time (or, `mine` False, none) until `check` holds; the control
    plane ticks meanwhile."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "the control plane never got there"
        if mine:
            chain.mine(1)
        await asyncio.sleep(0.15)


async def get(h: Harness, path: str) -> Any:
    async with h.client() as api:
        reply = await api.get(path)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def shows(h: Harness, metric: str) -> bool:
    async with h.client() as api:
        return metric in (await api.get("/metrics")).text


async def test_a_client_funds_its_account_by_sending_usdc_to_its_own_address(
    chain: TestChain, served: ChainServer, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(evm_mode(chain, served, None), tmp_path)
    async with running(tmp_path, settings, database_url) as h:
        found = await get(h, "/api/v1/billing/deposit-address")
        assert (found["settlement"], found["network"], found["confirmations"]) == ("evm", "base", 3)
        assert found["token_contract"] == chain.token
        assert found["payment_uri"].startswith(f"ethereum:{chain.token}@")
        assert (await get(h, "/api/v1/billing/deposit-address"))["address"] == found["address"]
        assert (await get(h, "/api/v1/billing/balance"))["available"] == "0.000000"  # no demo
        async with h.client() as api:
            form = await api.post("/api/v1/billing/deposits", json={"amount": "10.00"})
        assert form.status_code == 403 and "deposit-address" in form.json()["error_message"]

        client = await chain.funded_account(micros=FIVE)
        tx = await chain.send_usdc(client, found["address"], FIVE)

        async def state_is(wanted: str) -> bool:
            listed = (await get(h, "/api/v1/billing/deposits"))["deposits"]
            return bool(listed) and listed[0]["state"] == wanted

        await until(chain, lambda: state_is("unconfirmed"), mine=False)  # 1 of 3 for now
        [seen] = (await get(h, "/api/v1/billing/deposits"))["deposits"]
        assert seen["tx_hash"] == tx and seen["amount"] == "5.000000"
        assert (seen["confirmations"], seen["confirmations_required"]) == (1, 3)
        await until(chain, lambda: state_is("credited"))
        assert (await get(h, "/api/v1/billing/balance"))["available"] == "5.000000"
        counted = 'infernet_settlement_deposits_credited_total{network="base"} 1.0'
        await until(chain, lambda: shows(h, counted))  # counted when the tick ends
        assert await shows(h, 'infernet_settlement_differences{network="base"} 0.0')


async def test_an_operators_claim_is_paid_from_the_hot_wallet_and_shows_its_hash(
    chain: TestChain,
    served: ChainServer,
    database_url: str,
    tmp_path: Path,
    hot_key_file: Path,
) -> None:
    wallet = HotWallet(HOT_KEY)
    await chain.give_eth(wallet.address, 10**18)
    await chain.mint(wallet.address, 50_000_000)
    settings = settings_for(evm_mode(chain, served, hot_key_file), tmp_path)
    destination = str(Account.create().address)
    async with running(tmp_path, settings, database_url) as h:
        me = (await get(h, "/api/v1/account"))["id"]
        payments = h.control_plane.services.payments
        assert payments is not None
        earned = [("external:test", -usdc(3)), (accounts.earnings(me), usdc(3))]
        await payments.ledger.post("test_earning", "earned", earned)
        async with h.client() as api:
            body = {"network": "base", "address": destination}
            assert (await api.put("/api/v1/payouts/address", json=body)).status_code == 200
            claimed = (await api.post("/api/v1/payouts", json={})).json()
        assert claimed["detail"] == "pending: queued for the next USDC payout on base"

        async def paid() -> bool:
            [payout] = (await get(h, "/api/v1/payouts"))["payouts"]
            return bool(payout["status"] == "confirmed")

        await until(chain, paid)
        [payout] = (await get(h, "/api/v1/payouts"))["payouts"]
        receipt = await chain.w3.eth.get_transaction_receipt(payout["tx_hash"])
        assert receipt["status"] == 1 and receipt["blockNumber"] == payout["block_number"]
        assert payout["confirmed_at"] and payout["id"] == claimed["id"]
        assert await chain.balance(destination) == 3_000_000
        summary = await get(h, "/api/v1/payments/summary")
        assert (summary["paid_out"], summary["pending_payout"]) == ("3.000000", "0.000000")


async def test_ledger_mode_has_no_deposit_address_and_says_how_funds_are_added(
    tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(SettlementSettings(), tmp_path)
    async with running(tmp_path, settings, database_url) as h:
        found = await get(h, "/api/v1/billing/deposit-address")
        assert (found["settlement"], found["address"], found["network"]) == ("ledger", None, None)
        listed = await get(h, "/api/v1/billing/deposits")
        assert listed["deposits"] == [] and "ledger credits" in listed["note"]
        assert (await get(h, "/api/v1/billing/balance"))["available"] == "25.000000"  # demo


class Webhook:
    """A Slack-compatible endpoint on loopback that records what it is sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.texts: list[str] = []

    async def _post(self, request: web.Request) -> web.Response:
        self.texts.append((await request.json())["text"])
        return web.Response(text="ok")

    async def __aenter__(self) -> Webhook:
        app = web.Application()
        app.router.add_post("/hook", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


async def _operator(url: str, hook: Webhook) -> str:
    db = await open_database(url)
    try:
        account = await create_account(db, "operator")
        await dashboard_store.add_webhook(db, account, "slack", hook.url)
        return account
    finally:
        await db.dispose()


async def test_a_difference_between_ledger_and_chain_is_alerted(
    chain: TestChain,
    served: ChainServer,
    database_url: str,
    tmp_path: Path,
    hot_key_file: Path,
) -> None:
    wallet = HotWallet(HOT_KEY)
    await chain.give_eth(wallet.address, 10**18)
    await chain.mint(wallet.address, 10_000_000)
    async with Webhook() as hook:
        operator = await _operator(database_url, hook)
        chosen = evm_mode(
            chain, served, hot_key_file, alert_account=operator, reconcile_interval_s=0.3
        )
        settings = settings_for(chosen, tmp_path, webhook_hosts=["127.0.0.1"])
        async with running(tmp_path, settings, database_url) as h:
            # USDC leaves the hot wallet by hand, for no claim.
            await chain.send_usdc(Account.from_key(HOT_KEY), str(Account.create().address), 1)

            async def alerted() -> bool:
                return any("transfer_without_payout" in t for t in hook.texts)

            await until(chain, alerted)
            assert await shows(h, 'infernet_settlement_differences{network="base"} 1.0')
        assert "ledger and chain differ" in hook.texts[0]
