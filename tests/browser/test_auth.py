"""Sign-up, sign-in (email + password, or an API key) and sign-out in a real browser."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import Network
from tests.browser.support import click, console_errors, fill, screenshot, wait_for, wait_text

PASSWORD = "correct horse battery"


def sign_up(driver: WebDriver, url: str, email: str = "ada@example.com") -> None:
    driver.get(f"{url}/dashboard/sign-up")
    fill(driver, {"name": "Ada", "email": email, "password": PASSWORD})
    click(driver, "#sign-up-form button[type=submit]")
    wait_for(driver, "#add-node")


def test_the_landing_page_sends_a_visitor_to_sign_in(network: Network, browser: WebDriver) -> None:
    browser.get(network.url + "/")
    wait_for(browser, "#sign-in-form")
    assert browser.current_url.endswith("/dashboard/sign-in")
    screenshot(browser, "sign-in")


def test_a_new_account_signs_up_signs_out_and_signs_in_again(
    network: Network, browser: WebDriver
) -> None:
    sign_up(browser, network.url)
    assert "No nodes yet" in browser.page_source
    click(browser, ".signout button")
    wait_for(browser, "#sign-in-form")
    fill(browser, {"email": "ADA@example.com", "password": PASSWORD})
    click(browser, "#sign-in-form button[type=submit]")
    wait_for(browser, "#add-node")
    cookie = browser.get_cookie("infernet_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_a_wrong_password_is_shown_inline_and_keeps_the_email(
    network: Network, browser: WebDriver
) -> None:
    sign_up(browser, network.url)
    browser.delete_all_cookies()
    browser.get(network.url + "/dashboard/sign-in")
    fill(browser, {"email": "ada@example.com", "password": "not the password"})
    click(browser, "#sign-in-form button[type=submit]")
    wait_text(browser, "#password-error", "do not match")
    assert browser.find_element(By.ID, "email").get_attribute("value") == "ada@example.com"
    # A 400 answer is logged by Chromium as a failed resource: expected here, not a page error.
    assert all("400" in message for message in console_errors(browser))
    screenshot(browser, "sign-in-error")


def test_an_api_key_from_infernet_up_signs_in(network: Network, browser: WebDriver) -> None:
    browser.get(network.url + "/dashboard/jobs")
    wait_for(browser, "#sign-in-form")
    fill(browser, {"api_key": network.harness.api_key})
    click(browser, "#sign-in-form button[type=submit]")
    wait_text(browser, "h1", "Recent jobs")
    assert browser.current_url.endswith("/dashboard/jobs")
