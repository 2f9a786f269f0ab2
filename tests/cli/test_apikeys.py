"""`infernet apikey create|list|revoke` against a running control plane, and
`infernet cp invite` against its database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from infernet.cli.app import app
from infernet.controlplane.settings import Settings
from tests.support.harness import Harness, running

runner = CliRunner()


async def infernet(harness: Harness, *args: str, api_key: str | None = None) -> Result:
    """Run the CLI in a thread, so the control plane in this loop can answer it."""
    env = {
        "INFERNET_API_KEY": harness.api_key if api_key is None else api_key,
        "INFERNET_CONTROL_PLANE_URL": harness.url,
        "COLUMNS": "160",
    }
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env)


async def test_create_shows_the_key_once_and_it_works(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        created = await infernet(
            harness, "apikey", "create", "--name", "ci", "--per-minute", "5", "--json"
        )
        assert created.exit_code == 0, created.output
        key = json.loads(created.output)
        assert key["key"].startswith("inft_sk_") and key["name"] == "ci"
        assert key["limits"]["requests_per_minute"] == 5
        listed = await infernet(harness, "apikey", "list", "--json", api_key=key["key"])
    assert listed.exit_code == 0, listed.output
    assert {k["name"] for k in json.loads(listed.output)["keys"]} == {"tester", "ci"}
    assert key["key"] not in listed.output


async def test_list_prints_a_table_and_revoke_makes_the_key_useless(tmp_path: Path) -> None:
    books_limits = Settings(key_requests_per_minute=60, key_requests_per_hour=1000)
    async with running(tmp_path, books_limits) as harness:
        created = json.loads((await infernet(harness, "apikey", "create", "--json")).output)
        revoked = await infernet(harness, "apikey", "revoke", created["id"])
        table = await infernet(harness, "apikey", "list")
        refused = await infernet(harness, "apikey", "list", api_key=created["key"])
    assert revoked.exit_code == 0 and created["id"] in revoked.output
    assert table.exit_code == 0
    assert "revoked" in table.output and "active" in table.output
    assert "60/min, 1,000/h" in table.output
    assert refused.exit_code == 4  # the control plane refused: a key problem
    assert "unauthorized" in refused.output


async def test_revoking_an_unknown_key_fails_with_the_control_planes_reason(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as harness:
        result = await infernet(harness, "apikey", "revoke", "key_nope")
    assert result.exit_code == 1
    assert "No key key_nope in your account" in result.output


def test_an_unreachable_control_plane_is_exit_code_4() -> None:
    env = {"INFERNET_API_KEY": "inft_sk_x", "INFERNET_CONTROL_PLANE_URL": "http://127.0.0.1:9"}
    result = runner.invoke(app, ["apikey", "list"], env=env)
    assert result.exit_code == 4
    assert "cannot reach the control plane" in result.output


def test_cp_invite_prints_a_one_use_code(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}"
    result = runner.invoke(app, ["cp", "invite", "--db", db, "--note", "bob", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["invite_code"].startswith("inft_inv_")
