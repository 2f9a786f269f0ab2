"""Operators look rather than read: a node's page in Chromium draws what the node did
(jobs completed through the real network, their speed, time to first token, earnings) as
SVG charts with points, and switching the window redraws them for that window."""

from __future__ import annotations

import re

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from infernet.localnet import LocalNode
from tests.browser.conftest import Network
from tests.browser.support import click, screenshot, text, wait_for
from tests.browser.test_client import sign_in_with_key
from tests.support.scripted import ScriptedBackend

ASK = {"model": "smollm2:135m", "messages": [{"role": "user", "content": "hi"}]}


def node_that_answered(network: Network, chats: int) -> LocalNode:
    """A node of the signed-in account that has answered `chats` chats through the network."""
    harness = network.harness
    backend = ScriptedBackend(["smollm2:135m"], delay_s=0.02)
    node = network.loop.run(harness.add_node(backend, owner=harness.api_key))
    headers = {"Authorization": f"Bearer {harness.api_key}"}
    for _ in range(chats):
        answer = httpx.post(network.url + "/v1/chat/completions", json=ASK, headers=headers)
        assert answer.status_code == 200
    return node


def points(browser: WebDriver, key: str) -> int:
    return len(browser.find_elements(By.CSS_SELECTOR, f"#chart-{key} svg circle.point"))


def test_a_nodes_page_draws_its_jobs_and_switches_window(
    network: Network, browser: WebDriver
) -> None:
    node = node_that_answered(network, chats=3)
    sign_in_with_key(network, browser)

    browser.get(f"{network.url}/dashboard/nodes/{node.node_id}?window=hour")
    wait_for(browser, "#chart-jobs svg")
    for key in ("jobs", "speed", "ttft", "earnings"):
        assert points(browser, key) >= 1, f"the {key} chart has no point"
    svg = browser.find_element(By.CSS_SELECTOR, "#chart-jobs svg")
    assert svg.get_attribute("role") == "img"
    title = svg.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert title == "Jobs completed"
    assert (svg.get_attribute("aria-labelledby") or "").split() == ["chart-jobs-t", "chart-jobs-d"]
    assert re.fullmatch(r"latest \d jobs?", text(browser, "#chart-jobs .chart-latest"))
    assert "USDC" in text(browser, "#chart-earnings .chart-latest")
    drawn = browser.find_element(By.CSS_SELECTOR, "#chart-jobs svg circle.point").rect
    assert drawn["width"] > 0 and drawn["height"] > 0  # really laid out, not just markup
    assert "per minute" in (
        browser.find_element(By.CSS_SELECTOR, "#chart-jobs desc").get_attribute("textContent") or ""
    )
    screenshot(browser, "node-history-hour")

    click(browser, "nav.windows a[href*='window=week']")
    wait_for(browser, "nav.windows a.active[href*='window=week']")
    assert "window=week" in browser.current_url
    desc = browser.find_element(By.CSS_SELECTOR, "#chart-jobs desc").get_attribute("textContent")
    assert "last 7 days, per 2 hours" in (desc or "")
    assert points(browser, "jobs") >= 1  # the same jobs, in this window's buckets
    screenshot(browser, "node-history-week")


def test_the_market_page_plots_each_node_serving_a_model(
    network: Network, browser: WebDriver
) -> None:
    node = node_that_answered(network, chats=1)
    sign_in_with_key(network, browser)
    click(browser, "nav.nav a[href='/dashboard/market']")
    wait_for(browser, "#chart-smollm2-135m-market svg")
    assert points(browser, "smollm2-135m-market") == 1  # the one node, at its price and speed
    assert points(browser, "smollm2-135m-jobs") >= 1
    assert "yours" in text(browser, "section.market")
    link = browser.find_element(By.CSS_SELECTOR, "section.market td a")
    assert link.get_attribute("href") == f"{network.url}/dashboard/nodes/{node.node_id}"
    screenshot(browser, "market")
