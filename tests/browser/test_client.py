"""Clients in the browser: chat streams tokens into the page through the network, the
jobs list and job page show the job with its receipt, funds are added, and an API key
revoked in Settings is refused by the API at once. Every page is screenshotted."""

from __future__ import annotations

import httpx
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import Network
from tests.browser.support import (
    click,
    console_errors,
    fill,
    screenshot,
    text,
    wait_for,
    wait_text,
)
from tests.browser.test_auth import sign_up
from tests.support.scripted import ScriptedBackend

TOKENS = ["Paris", " is", " the", " capital", " of", " France", "."]


def sign_in_with_key(network: Network, browser: WebDriver) -> None:
    browser.get(network.url + "/dashboard/sign-in")
    fill(browser, {"api_key": network.harness.api_key})
    click(browser, "#sign-in-form button[type=submit]")
    wait_for(browser, "#add-node")


def test_chat_streams_tokens_into_the_page_and_the_job_has_a_receipt(
    network: Network, browser: WebDriver
) -> None:
    backend = ScriptedBackend(["smollm2:135m"], tokens=TOKENS, delay_s=0.4)
    network.loop.run(network.harness.add_node(backend))
    sign_in_with_key(network, browser)  # the harness account holds the local demo credit
    browser.get(network.url + "/dashboard/chat")
    fill(browser, {"chat-input": "What is the capital of France?"})
    click(browser, "#chat-send")
    # Part of the answer is on the page while the rest is still streaming.
    WebDriverWait(browser, 20).until(
        lambda d: (
            "Paris" in text(d, ".bubble.assistant.streaming")
            and "France." not in text(d, ".bubble.assistant.streaming")
        )
    )
    wait_text(browser, ".bubble.assistant.done", "Paris is the capital of France.")
    screenshot(browser, "chat")
    browser.get(network.url + "/dashboard/jobs")
    wait_text(browser, "#jobs-table", "completed")
    screenshot(browser, "jobs")
    click(browser, "#jobs-table a.mono")
    wait_for(browser, "#receipts dl.receipt")
    assert "Paris is the capital of France." in text(browser, "pre.answer")
    screenshot(browser, "job")


def test_chat_says_plainly_when_no_node_serves_a_model(
    network: Network, browser: WebDriver
) -> None:
    sign_in_with_key(network, browser)
    browser.get(network.url + "/dashboard/chat")
    assert "No online node serves a model right now" in text(browser, "main")


def test_add_funds_updates_the_balance_and_a_bad_amount_is_explained_inline(
    network: Network, browser: WebDriver
) -> None:
    sign_up(browser, network.url)
    browser.get(network.url + "/dashboard/billing")
    fill(browser, {"amount": "ten dollars"})
    click(browser, "#deposit-form button")
    wait_for(browser, "#amount-error")
    assert all("400" in m for m in console_errors(browser))
    fill(browser, {"amount": "12.50"})
    click(browser, "#deposit-form button")
    wait_text(browser, "#available", "12.500000 USDC")
    screenshot(browser, "billing")
    browser.get(network.url + "/dashboard/earnings")
    wait_text(browser, "#ledger", "deposit")
    screenshot(browser, "earnings")


def test_a_key_revoked_in_settings_is_refused_by_the_api(
    network: Network, browser: WebDriver
) -> None:
    sign_up(browser, network.url)
    browser.get(network.url + "/dashboard/settings")
    fill(browser, {"key_name": "laptop"})
    click(browser, "#create-key")
    secret = wait_for(browser, "#new-key").text
    assert secret.startswith("inft_sk_")
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(network.url + "/api/v1/jobs", headers=headers).status_code == 200
    click(browser, "button[data-revoke]")
    wait_text(browser, "#notice", "Key revoked")
    assert "revoked" in text(browser, "table.keys")
    assert httpx.get(network.url + "/api/v1/jobs", headers=headers).status_code == 401
    screenshot(browser, "settings")


def test_supply_gap_shows_models_requested_that_no_node_serves(
    network: Network, browser: WebDriver
) -> None:
    network.loop.run(network.harness.add_node(ScriptedBackend(["smollm2:135m"])))
    body = {"model": "qwen2.5:72b", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {network.harness.api_key}"}
    refused = httpx.post(network.url + "/api/v1/jobs", json=body, headers=headers)
    assert refused.status_code == 404
    sign_in_with_key(network, browser)
    browser.get(network.url + "/dashboard/supply")
    wait_text(browser, "#supply-table", "unserved")
    assert "qwen2.5:72b" in text(browser, "#supply-table")
    screenshot(browser, "supply")


def test_pages_are_readable_at_phone_width(network: Network, browser: WebDriver) -> None:
    harness = network.harness
    network.loop.run(harness.add_node(ScriptedBackend(["smollm2:135m"]), owner=harness.api_key))
    browser.set_window_size(390, 844)
    sign_in_with_key(network, browser)
    browser.get(network.url + "/dashboard/nodes")
    wait_text(browser, "#nodes-table", "smollm2:135m")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    screenshot(browser, "nodes-phone")
