"""Dashboard sessions (dashboard/session.py): a form another site posts is refused (CSRF)
even though it would reach the control plane with the visitor's browser."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.harness import Harness, running

SIGN_UP = {"name": "ada", "email": "ada@example.com", "password": "correct horse battery"}


def browser(harness: Harness) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=harness.url, timeout=30)


async def test_a_form_posted_from_another_site_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as harness, browser(harness) as client:
        for header in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"}):
            response = await client.post("/dashboard/sign-up", data=SIGN_UP, headers=header)
            assert response.status_code == 403
            assert "another site" in response.text
        # Nothing was created: the same email can still sign up from the dashboard itself.
        origin = {"Origin": harness.url}
        response = await client.post("/dashboard/sign-up", data=SIGN_UP, headers=origin)
        assert response.status_code == 303


async def test_a_sandboxed_page_with_a_null_origin_is_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as harness, browser(harness) as client:
        response = await client.post("/dashboard/sign-up", data=SIGN_UP, headers={"Origin": "null"})
        assert response.status_code == 403


async def test_pages_still_load_from_links_on_other_sites(tmp_path: Path) -> None:
    async with running(tmp_path) as harness, browser(harness) as client:
        response = await client.get(
            "/dashboard/sign-in", headers={"Referer": "https://elsewhere.example/"}
        )
        assert response.status_code == 200
