"""Drive Debian's Chromium headless against a real control plane with real node daemons.

The control plane and its nodes run on an event loop in a background thread
(`LoopThread`), so the tests themselves are plain synchronous Selenium. Chromium runs with
a fresh profile and no network access beyond loopback use. Screenshots go to
`test-artifacts/screenshots/` (gitignored).
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
T = TypeVar("T")


def need_chromium() -> None:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists() or shutil.which("chromium") is None:
        pytest.skip(
            "Chromium is not installed: run `bash scripts/system-deps.sh chromium "
            "chromium-driver` (as root) to run the dashboard's browser tests."
        )


class LoopThread:
    """An asyncio loop in a daemon thread; `run` executes a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def chromium(profile: Path) -> WebDriver:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    return driver


def console_errors(driver: WebDriver) -> list[str]:
    """Errors the page logged to the browser console since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    return path


def wait_for(driver: WebDriver, css: str, timeout: float = 20) -> Any:
    return WebDriverWait(driver, timeout).until(lambda d: d.find_element(By.CSS_SELECTOR, css))


def wait_text(driver: WebDriver, css: str, text: str, timeout: float = 20) -> None:
    def has(d: WebDriver) -> bool:
        found = d.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText);", css
        )
        return any(text in t for t in found)

    WebDriverWait(driver, timeout).until(has)


def click(driver: WebDriver, css: str, timeout: float = 20) -> None:
    """Click the first match, finding it again if a live re-render replaced it meanwhile."""

    def clicked(d: WebDriver) -> bool:
        d.find_element(By.CSS_SELECTOR, css).click()
        return True

    WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
        clicked
    )


def fill(driver: WebDriver, values: dict[str, str]) -> None:
    for element_id, value in values.items():
        field = driver.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)


def text(driver: WebDriver, css: str) -> str:
    """The text of the first match, read in one step (live fragments replace elements)."""
    found = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", css
    )
    return str(found) if found is not None else ""


def wait_until_text(driver: WebDriver, css: str, expected: str, timeout: float = 30) -> None:
    try:
        WebDriverWait(driver, timeout).until(lambda d: text(d, css) == expected)
    except TimeoutException as exc:
        seen = text(driver, "main")
        raise AssertionError(f"{css} never read {expected!r}; the page shows:\n{seen}") from exc
