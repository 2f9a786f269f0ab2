"""`infernet payments | payout | price | receipts` against a real control plane, signed with
the node's own key; and offline receipt verification with public keys only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select
from typer.testing import CliRunner, Result

from infernet.cli.app import app
from infernet.controlplane.money.ledger import earnings
from infernet.controlplane.settings import Settings
from infernet.controlplane.store import payout_attempts
from infernet.controlplane.store.tables import payout_requests
from infernet.localnet import LocalNode
from infernet.node.autopayout import SCHEDULE_S, auto_payout_loop
from infernet.node.client import ControlPlaneClient
from infernet.protocol.keys import NodeKey
from infernet.protocol.receipts import ReceiptFields, countersign, sign_as_node
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend

CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BROKEN = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"  # last letter's case flipped
SOLANA = "So11111111111111111111111111111111111111112"


@pytest_asyncio.fixture
async def node(tmp_path: Path) -> AsyncIterator[LocalNode]:
    settings = Settings(payments_enabled=True, platform_key_path=str(tmp_path / "platform.key"))
    harness: Harness
    async with running(tmp_path, settings) as harness:
        yield await harness.add_node(ScriptedBackend(["m:1b"]))


def flat(result: Result) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


async def cli(node: LocalNode, *args: str) -> Result:
    argv = [*args, "--config", str(node.config_path)]
    return await asyncio.to_thread(CliRunner().invoke, app, argv)


async def test_payout_addresses_are_checked_for_their_chain(node: LocalNode) -> None:
    bad = await cli(node, "payout", "set", "--network", "base", "--address", BROKEN)
    assert bad.exit_code == 2 and "checksum" in flat(bad)
    good = await cli(
        node, "payout", "set", "--coin", "USDC", "--network", "base", "--address", CHECKSUMMED
    )
    assert good.exit_code == 0, good.output
    book_form = await cli(node, "payout", "--set-address", SOLANA, "--chain", "solana")
    assert book_form.exit_code == 0, book_form.output
    listed = await cli(node, "payout", "list")
    assert CHECKSUMMED in flat(listed) and SOLANA in flat(listed)
    btc = await cli(node, "payout", "set", "--coin", "BTC", "--address", CHECKSUMMED)
    assert btc.exit_code == 2 and "only USDC" in flat(btc)


async def test_a_claim_below_the_chain_minimum_is_refused(node: LocalNode) -> None:
    await cli(node, "payout", "set", "--network", "base", "--address", CHECKSUMMED)
    claim = await cli(node, "payout", "claim")
    assert claim.exit_code == 1
    assert "below the base minimum payout of 1.000000" in flat(claim)


async def test_payments_prints_the_books_summary(node: LocalNode) -> None:
    result = await cli(node, "payments")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["Earnings Summary", "================"]
    assert "Unclaimed balance: 0.000000 USDC" in flat(result)
    assert "Total today: 0 jobs, 0.000000 USDC" in flat(result)


async def test_an_operator_sets_its_price_per_model(node: LocalNode) -> None:
    result = await cli(node, "price", "set", "m:1b", "--input", "0.001", "--output", "0.004")
    assert result.exit_code == 0, result.output
    assert "m:1b input 0.001000 output 0.004000 (operator)" in flat(result)
    zero = await cli(node, "price", "set", "m:1b", "--input", "0", "--output", "0.004")
    assert zero.exit_code == 1 and "more than 0" in flat(zero)


def _receipt_file(tmp_path: Path, tamper: bool = False) -> tuple[Path, NodeKey, NodeKey]:
    node_key, platform = NodeKey.generate(), NodeKey.generate()
    fields = ReceiptFields(
        job_id="job_1",
        node_pubkey=node_key.public_hex,
        client_pubkey=None,
        model="m:1b",
        input_tokens=24,
        output_tokens=312,
        completed_at="2026-04-30T14:23:43Z",
        value_usdc="0.00156",
        chain="base",
    )
    receipt = countersign(sign_as_node(fields, node_key), platform, node_key.public_hex)
    data = {**receipt.model_dump(), "platform_pubkey": platform.public_hex}
    if tamper:
        data["output_tokens"] = 313
    path = tmp_path / "cpr.json"
    path.write_text(json.dumps(data))
    return path, node_key, platform


def test_receipts_verify_checks_a_receipt_offline_and_prints_each_check(tmp_path: Path) -> None:
    path, node_key, platform = _receipt_file(tmp_path)
    args = [
        "receipts",
        "verify",
        str(path),
        "--platform-key",
        platform.npub,
        "--node-key",
        node_key.public_hex,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("id", "node_pubkey", "node_signature", "platform_signature"):
        assert f"[OK] {name}" in flat(result)
    assert "Receipt verifies." in flat(result)


def test_receipts_verify_fails_a_tampered_receipt(tmp_path: Path) -> None:
    path, _, platform = _receipt_file(tmp_path, tamper=True)
    result = CliRunner().invoke(
        app, ["receipts", "verify", str(path), "--platform-key", platform.npub]
    )
    assert result.exit_code == 1
    assert "[FAIL] node_signature" in flat(result) and "[FAIL] id" in flat(result)


@pytest_asyncio.fixture
async def earning(tmp_path: Path) -> AsyncIterator[tuple[Harness, LocalNode]]:
    settings = Settings(payments_enabled=True, platform_key_path=str(tmp_path / "platform.key"))
    async with running(tmp_path, settings) as harness:
        yield harness, await harness.add_node(ScriptedBackend(["m:1b"]))


async def earn(harness: Harness, node: LocalNode, amount: str) -> None:
    payments = harness.control_plane.services.payments
    assert payments is not None and node.node_id is not None
    owner = await payments.accounting.owner_of(node.node_id)
    credit = Decimal(amount)
    await payments.ledger.post(
        "test_earning",
        f"earn:{amount}",
        [(earnings(owner), credit), ("external:deposits", -credit)],
    )


async def test_payout_auto_claims_only_once_earnings_reach_the_threshold(
    earning: tuple[Harness, LocalNode],
) -> None:
    harness, node = earning
    # For cron: every "not yet" is a normal outcome (exit 0), saying what is missing.
    no_address = await cli(node, "payout", "--auto")
    assert no_address.exit_code == 0, no_address.output
    assert "no payout address is set" in flat(no_address)
    await cli(node, "payout", "set", "--network", "base", "--address", CHECKSUMMED)
    await earn(harness, node, "4.5")  # above base's 1.00 minimum, below the 5.0 threshold
    below = await cli(node, "payout", "--auto")
    assert below.exit_code == 0, below.output
    assert "below the auto-payout floor of 5.0 USDC" in flat(below)
    assert "nothing claimed" in flat(below)
    await earn(harness, node, "1.5")
    claimed = await cli(node, "payout", "--auto")
    assert claimed.exit_code == 0, claimed.output
    assert f"Claimed 6.000000 USDC to {CHECKSUMMED} on base" in flat(claimed)
    again = await cli(node, "payout", "--auto")
    assert "Unclaimed 0.000000 USDC is below" in flat(again)


async def test_the_daemons_schedule_claims_when_due(
    earning: tuple[Harness, LocalNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    harness, node = earning
    monkeypatch.setitem(SCHEDULE_S, "hourly", 0.05)  # an "hour" of 50 ms
    await cli(node, "payout", "set", "--network", "base", "--address", CHECKSUMMED)
    await earn(harness, node, "2.0")
    config = node.config.model_copy(
        update={"auto_payout_schedule": "hourly", "auto_payout_threshold": Decimal("1.5")}
    )
    client = ControlPlaneClient(harness.url, node.key)
    loop = asyncio.create_task(auto_payout_loop(client, config))
    try:
        async with asyncio.timeout(20):
            while "pending" not in flat(await cli(node, "payout", "list")):
                await asyncio.sleep(0.1)
    finally:
        loop.cancel()
        await client.close()
    assert "2.000000 USDC base pending" in flat(await cli(node, "payout", "list"))


async def test_payout_list_shows_each_transaction_hash_and_why_a_claim_waits(
    earning: tuple[Harness, LocalNode],
) -> None:
    harness, node = earning
    await cli(node, "payout", "set", "--network", "base", "--address", CHECKSUMMED)
    await earn(harness, node, "2.0")
    await cli(node, "payout", "claim")
    await earn(harness, node, "3.0")
    await cli(node, "payout", "claim")
    listed = (await cli(node, "payout", "list")).output
    assert listed.count("settlement is ledger-only on this control plane") == 2
    # The first claim is paid on chain (as the settlement's store records it).
    tx = "0x" + "ab" * 32
    async with harness.control_plane.services.db.begin() as conn:
        first = (await conn.execute(select(payout_requests.c.id).where(
            payout_requests.c.micros == 2_000_000))).scalar_one()  # fmt: skip
        await payout_attempts.set_claim(
            conn, first, status="confirmed", tx_hash=tx, block_number=1234, detail="confirmed"
        )
    listed = flat(await cli(node, "payout", "list"))
    assert "2.000000 USDC base confirmed" in listed and f"tx {tx} (block 1234)" in listed
    assert "3.000000 USDC base pending" in listed
    assert listed.count("ledger-only") == 1
