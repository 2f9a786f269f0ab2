"""Operators in the browser: Add Node gives a token that really registers a node, the
Nodes page follows it live, and Manage Models installs a model on a real node daemon,
following the command pending → running → done without a reload."""

from __future__ import annotations

import re

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from infernet.cli.register import send_registration
from infernet.localnet import LocalNode
from tests.browser.conftest import Network
from tests.browser.support import click, screenshot, text, wait_for, wait_text, wait_until_text
from tests.browser.test_auth import sign_up
from tests.support.scripted import ScriptedBackend


async def _token_node(network: Network, backend: ScriptedBackend, token: str) -> LocalNode:
    """What `infernet register --token …` then `infernet start` do on a new machine."""
    harness = network.harness
    node = LocalNode(
        harness.home / f"node{len(harness.nodes)}",
        harness.url,
        backend,
        served_models=list(backend.models),
        heartbeat_interval_s=1.0,
        name="gpu-box-1",
    )
    # As `infernet start` does: the daemon records installed models in its config file
    # (LocalNode leaves the path unset).
    node.daemon.config_path = node.config_path
    await send_registration(node.config, node.key, token, None)
    harness.nodes.append(node)
    node.start()
    return node


def add_node(network: Network, browser: WebDriver, backend: ScriptedBackend) -> LocalNode:
    browser.get(network.url + "/dashboard/nodes/add")
    click(browser, "#create-token")
    token = wait_for(browser, "#registration-token").text
    assert re.fullmatch(r"inft_reg_[A-Za-z0-9]{20}", token)
    assert f"--registration-token {token}" in browser.find_element(By.ID, "cmd-setup").text
    screenshot(browser, "add-node")
    return network.loop.run(_token_node(network, backend, token))


def test_add_node_shows_a_token_that_registers_a_node_which_appears_live(
    network: Network, browser: WebDriver
) -> None:
    sign_up(browser, network.url)
    browser.get(network.url + "/dashboard/nodes")
    assert "No nodes yet" in browser.page_source
    add_node(network, browser, ScriptedBackend(["smollm2:135m"]))
    browser.get(network.url + "/dashboard/nodes")
    # The node shows up online, without a reload, as its heartbeats arrive.
    wait_text(browser, "#nodes-table .status", "online")
    row = text(browser, "#nodes-table tr[data-node]")
    assert "gpu-box-1" in row and "smollm2:135m" in row
    assert text(browser, "#nodes-table time.age").endswith("s ago")
    screenshot(browser, "nodes")


def test_install_from_manage_models_follows_the_command_until_the_node_has_the_model(
    network: Network, browser: WebDriver
) -> None:
    sign_up(browser, network.url)
    backend = ScriptedBackend(["smollm2:135m"], backend_name="ollama")
    node = add_node(network, browser, backend)
    browser.get(network.url + "/dashboard/nodes")
    wait_text(browser, "#nodes-table .status", "online")
    click(browser, "#nodes-table tr[data-node] a")
    wait_for(browser, "#installed")
    browser.find_element(By.ID, "q").send_keys("qwen2.5 0.5b")
    click(browser, "form[role=search] button")
    selector = "#search-results button[data-install]"
    model = wait_for(browser, selector).get_attribute("data-install")
    click(browser, selector)
    wait_for(browser, "[data-command-status]")
    assert text(browser, "[data-command-status]") in ("pending", "running", "done")
    wait_until_text(browser, "[data-command-status]", "done")
    wait_text(browser, "#installed", model)  # the node's next heartbeat serves it
    assert model in backend.models
    assert node.node_id is not None
    screenshot(browser, "manage-models")
