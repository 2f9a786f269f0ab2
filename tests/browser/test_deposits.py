"""A control plane with `--settlement evm` in the browser: Billing's "Add funds" shows the
account's own deposit address, the network, the token, the confirmations and a QR code
of the payment URI instead of a free-credit form; a USDC transfer to it appears in the
deposits table and is credited; Earnings lists a paid claim with its transaction hash.
The chain is the in-process test chain on loopback JSON-RPC."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from infernet.controlplane.dashboard.deposits_view import qr_svg
from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.settings import Settings
from infernet.protocol.money import usdc
from infernet.settlement.evm.hdkeys import DepositAddresses
from infernet.settlement.evm.hotwallet import HotWallet
from tests.browser.support import (
    LoopThread,
    chromium,
    click,
    console_errors,
    fill,
    need_chromium,
    screenshot,
    text,
    wait_for,
)
from tests.settlement.chain import TestChain
from tests.settlement.conftest import HOT_KEY, XPUB, evm_mode
from tests.settlement.rpc_server import ChainServer
from tests.support.harness import Harness

pytest.importorskip("eth_tester", reason="the dev profile installs eth-tester")


@dataclass
class ChainNetwork:
    harness: Harness
    loop: LoopThread
    chain: TestChain

    @property
    def url(self) -> str:
        return self.harness.url

    def mine_until(
        self, browser: WebDriver, path: str, css: str, wanted: str, mine: bool = True
    ) -> None:
        """Mine a block (unless `mine` is False), reload `path`, until `css` shows `wanted`."""

        def there(driver: WebDriver) -> bool:
            if mine:
                self.loop.run(_mine(self.chain))
            driver.get(self.url + path)
            return wanted in text(driver, css)

        WebDriverWait(browser, 40, poll_frequency=0.3).until(there)


async def _mine(chain: TestChain) -> None:
    chain.mine(1)


async def _start(tmp_path: Path, key_file: Path) -> tuple[TestChain, ChainServer, Harness]:
    chain = TestChain()
    await chain.deploy()
    server = ChainServer(chain)
    await server.start()
    wallet = HotWallet(HOT_KEY)
    await chain.give_eth(wallet.address, 10**18)
    await chain.mint(wallet.address, 20_000_000)
    settings = Settings(
        payments_enabled=True,
        heartbeat_interval_s=1.0,
        settlement=evm_mode(chain, server, key_file),
    )
    harness = Harness(tmp_path, settings)
    await harness.start()
    return chain, server, harness


@pytest.fixture
def chain_network(tmp_path: Path) -> Iterator[ChainNetwork]:
    need_chromium()
    key_file = tmp_path / "hot.key"
    key_file.write_text(HOT_KEY.hex())
    key_file.chmod(0o600)
    loop = LoopThread()
    chain, server, harness = loop.run(_start(tmp_path, key_file))
    try:
        yield ChainNetwork(harness, loop, chain)
    finally:
        loop.run(harness.stop())
        loop.run(server.stop())
        loop.close()


@pytest.fixture
def chain_browser(chain_network: ChainNetwork, tmp_path: Path) -> Iterator[WebDriver]:
    driver = chromium(tmp_path / "chromium-profile")
    try:
        yield driver
        assert console_errors(driver) == [], "the page logged errors to the browser console"
    finally:
        driver.quit()


def _sign_in(network: ChainNetwork, browser: WebDriver) -> None:
    browser.get(network.url + "/dashboard/sign-in")
    fill(browser, {"api_key": network.harness.api_key})
    click(browser, "#sign-in-form button[type=submit]")
    wait_for(browser, "#add-node")


def _path_of(svg: str) -> str:
    found = re.search(r' d="([^"]+)"', svg)
    assert found is not None, svg[:200]
    return found.group(1)


def test_add_funds_shows_the_deposit_address_with_a_qr_code_and_credits_a_transfer(
    chain_network: ChainNetwork, chain_browser: WebDriver
) -> None:
    network, browser = chain_network, chain_browser
    _sign_in(network, browser)
    browser.get(network.url + "/dashboard/billing")
    address = DepositAddresses(XPUB).address(0)  # the first account to ask
    assert text(browser, "#deposit-address") == address
    assert text(browser, "#deposit-network") == "base"
    assert text(browser, "#deposit-token") == network.chain.token
    assert text(browser, "#deposit-confirmations") == "3 confirmations"
    assert not browser.find_elements(By.CSS_SELECTOR, "#deposit-form")  # no free credit
    assert "No deposits seen yet" in text(browser, "#no-deposits")
    chain_id = int(network.chain.tester.backend.chain.chain_id)
    uri = f"ethereum:{network.chain.token}@{chain_id}/transfer?address={address}"
    shown = browser.find_element(By.CSS_SELECTOR, "#deposit-qr").get_attribute("outerHTML")
    assert _path_of(str(shown)) == _path_of(str(qr_svg(uri)))  # the QR encodes that URI
    screenshot(browser, "billing-evm")

    async def pay() -> None:
        client = await network.chain.funded_account(micros=5_000_000)
        await network.chain.send_usdc(client, address, 5_000_000)

    network.loop.run(pay())
    network.mine_until(browser, "/dashboard/billing", "#deposits-table", "1 of 3", mine=False)
    network.mine_until(browser, "/dashboard/billing", "#deposits-table", "credited")
    assert text(browser, "#available") == "5.000000 USDC"
    screenshot(browser, "billing-evm-credited")


def test_earnings_lists_a_paid_claim_with_its_transaction_hash(
    chain_network: ChainNetwork, chain_browser: WebDriver
) -> None:
    network, browser = chain_network, chain_browser
    headers = {"Authorization": f"Bearer {network.harness.api_key}"}
    with httpx.Client(base_url=network.url, headers=headers, timeout=30) as api:
        me = api.get("/api/v1/account").json()["id"]
        payments = network.harness.control_plane.services.payments
        assert payments is not None
        earned = [("external:test", -usdc(2)), (accounts.earnings(me), usdc(2))]
        network.loop.run(payments.ledger.post("test_earning", "earned", earned))
        body = {"network": "base", "address": str(Account.create().address)}
        assert api.put("/api/v1/payouts/address", json=body).status_code == 200
        assert api.post("/api/v1/payouts", json={}).status_code == 201
    _sign_in(network, browser)
    network.mine_until(browser, "/dashboard/earnings", "#payouts-table", "confirmed")
    with httpx.Client(base_url=network.url, headers=headers, timeout=30) as api:
        [payout] = api.get("/api/v1/payouts").json()["payouts"]
    assert payout["tx_hash"] in text(browser, "#payouts-table")
    screenshot(browser, "earnings-payouts")
