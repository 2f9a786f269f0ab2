"""`infernet receipts get | verify`: fetch a Compute Payment Receipt, and check one offline
with nothing but public keys (node, platform, and optionally client)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import ValidationError

from infernet.cli.common import Exit, console, fail, user_errors
from infernet.cli.money_client import api_key_from_env, client_call, node_call
from infernet.protocol.receipts import Receipt, verify

app = typer.Typer(help="Compute Payment Receipts: fetch and verify.", no_args_is_help=True)


@app.command("get")
def get(
    receipt_id: str = typer.Argument(..., help="cpr_..."),
    out: Path = typer.Option(None, "--out", help="Write the JSON here (for `verify`)."),
    config: Path = typer.Option(None, "--config", envvar="INFERNET_CONFIG"),
) -> None:
    """Fetch a receipt: with INFERNET_API_KEY as the client who paid, else as this node."""
    path = f"/api/v1/cprs/{receipt_id}"
    with user_errors():
        found = (
            client_call("GET", path, *creds)
            if (creds := api_key_from_env())
            else (node_call("GET", path, config=config))
        )
    text = json.dumps(found, indent=2)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"Saved {receipt_id} to {out}")
    else:
        typer.echo(text)


def _load(path: Path) -> tuple[Receipt, dict[str, object]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        fields = {k: raw[k] for k in Receipt.model_fields if k in raw}
        return Receipt.model_validate(fields), raw
    except (OSError, json.JSONDecodeError, ValidationError, TypeError) as exc:
        raise fail(f"{path} is not a receipt file: {exc}", Exit.USAGE) from exc


@app.command("verify")
def verify_file(
    file: Path = typer.Argument(..., help="A receipt saved by `infernet receipts get --out`."),
    platform_key: str = typer.Option(None, "--platform-key", help="Pinned platform key."),
    node_key: str = typer.Option(None, "--node-key", help="The node key you expect."),
    client_key: str = typer.Option(None, "--client-key", help="Also check the client's signature."),
) -> None:
    """Check a receipt offline: id, node key, node, platform (and client) signatures."""
    receipt, raw = _load(file)
    platform = platform_key or raw.get("platform_pubkey")
    if not isinstance(platform, str):
        raise fail("no platform key: pass --platform-key (GET /api/v1/platform-key)", Exit.USAGE)
    if platform_key is None:
        console.print("note: platform key taken from the file; pin it with --platform-key")
    node = node_key or receipt.node_pubkey
    if node_key is None:
        console.print("note: node key taken from the receipt; pin it with --node-key")
    result = verify(receipt, node, platform, client_key)
    for check in result.checks:
        mark = "[OK]  " if check.ok else "[FAIL]"
        console.print(f"{mark} {check.name}" + (f": {check.detail}" if check.detail else ""))
    console.print(
        f"{receipt.id}: {receipt.value_usdc} USDC for {receipt.input_tokens}+"
        f"{receipt.output_tokens} tokens of {receipt.model} ({receipt.chain})"
    )
    if not result.ok:
        raise fail("the receipt does not verify", Exit.FAILED)
    console.print("Receipt verifies.")
