"""`infernet cp reconcile` and the check `infernet cp serve` makes before it serves, against
the test chain over loopback JSON-RPC: exit 0 clean, 1 with differences (each printed),
3 for settings or keys that cannot work, 4 when the endpoint cannot be reached."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from eth_account import Account
from typer.testing import CliRunner, Result

from infernet.backends.engine_process import free_port
from infernet.cli.app import app
from infernet.settlement.evm.hotwallet import HotWallet
from tests.settlement.chain import TestChain
from tests.settlement.conftest import HOT_KEY, evm_mode, flags
from tests.settlement.rpc_server import ChainServer


async def cli(*argv: str) -> Result:
    """In a thread: the command runs its own event loop while this one serves the chain."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(argv))


def flat(result: Result) -> str:
    return " ".join(result.output.split())


async def test_reconcile_exits_0_when_clean_and_1_listing_each_difference(
    chain: TestChain, served: ChainServer, tmp_path: Path, hot_key_file: Path
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}"
    wallet = HotWallet(HOT_KEY)
    await chain.give_eth(wallet.address, 10**18)
    await chain.mint(wallet.address, 10_000_000)
    argv = ["cp", "reconcile", "--db", db, *flags(evm_mode(chain, served, hot_key_file))]
    clean = await cli(*argv)
    assert clean.exit_code == 0, clean.output
    assert "base: blocks" in clean.output and "no differences" in clean.output

    await chain.send_usdc(Account.from_key(HOT_KEY), str(Account.create().address), 250_000)
    chain.mine(3)
    found = await cli(*argv, "--json")
    assert found.exit_code == 1, found.output
    report = json.loads(found.output)
    assert report["ok"] is False and report["network"] == "base"
    [difference] = report["differences"]
    assert (difference["kind"], difference["chain"], difference["ledger"]) == (
        "transfer_without_payout",
        "0.250000",
        None,
    )
    printed = await cli(*argv)
    assert printed.exit_code == 1 and "transfer_without_payout" in flat(printed)


async def test_serve_refuses_settings_and_keys_that_cannot_work_before_it_serves(
    chain: TestChain, served: ChainServer, tmp_path: Path, hot_key_file: Path
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}"
    port = str(free_port())
    good = evm_mode(chain, served, hot_key_file)
    serve = ["cp", "serve", "--db", db, "--port", port, "--platform-key", str(tmp_path / "k")]

    hot_key_file.chmod(0o644)
    too_open = await cli(*serve, *flags(good))
    assert too_open.exit_code == 3 and "chmod 600" in flat(too_open)
    assert HOT_KEY.hex() not in too_open.output  # the key is never printed
    hot_key_file.chmod(0o600)

    other_chain = good.model_copy(update={"chain_id": 8453})
    wrong = await cli(*serve, *flags(other_chain))
    assert wrong.exit_code == 3 and "serves chain id" in flat(wrong)

    closed = good.model_copy(update={"rpc_url": f"http://127.0.0.1:{free_port()}"})
    unreachable = await cli(*serve, *flags(closed))
    assert unreachable.exit_code == 4 and "RPC endpoint failed" in flat(unreachable)

    no_payments = await cli(*serve, "--no-payments", *flags(good))
    assert no_payments.exit_code == 3 and "needs payments" in flat(no_payments)

    typo = await cli(*serve, *flags(good), "--settlement-setting", "max_fees=1")
    assert typo.exit_code == 3 and "Unknown settlement setting max_fees" in flat(typo)
