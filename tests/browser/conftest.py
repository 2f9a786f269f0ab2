"""Fixtures for the browser tests: a live network (control plane + nodes) on a background
loop, and a fresh headless Chromium that is closed before the network stops."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from infernet.controlplane.settings import Settings
from tests.browser.support import LoopThread, chromium, console_errors, need_chromium
from tests.support.harness import Harness


@dataclass
class Network:
    harness: Harness
    loop: LoopThread

    @property
    def url(self) -> str:
        return self.harness.url


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    need_chromium()
    loop = LoopThread()
    # As `infernet up`: a local demo whose users credit their own balance.
    settings = Settings(payments_enabled=True, heartbeat_interval_s=1.0, open_deposits=True)
    harness = Harness(tmp_path, settings)
    loop.run(harness.start())
    try:
        yield Network(harness, loop)
    finally:
        loop.run(harness.stop())
        loop.close()


@pytest.fixture
def browser(network: Network, tmp_path: Path) -> Iterator[WebDriver]:
    driver = chromium(tmp_path / "chromium-profile")
    try:
        yield driver
        assert console_errors(driver) == [], "the page logged errors to the browser console"
    finally:
        driver.quit()
