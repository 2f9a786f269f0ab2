"""`infernet payments | payout | price`: an operator's earnings, payouts and prices.

Run on the node: requests are signed with the node key from its config. Payout claims
are recorded in the control plane's ledger; a control plane with `--settlement evm` pays
them in USDC and `payout list` shows each transaction's hash, one with `--settlement
ledger` keeps them pending and says so, rather than printing a made-up hash.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer

from infernet.cli.common import Exit, console, fail, user_errors
from infernet.cli.money_client import node_call
from infernet.node.autopayout import auto_payout
from infernet.node.client import ControlPlaneClient, ControlPlaneError
from infernet.node.config import load_effective_config
from infernet.protocol.chains import AddressError, chain, check_coin, validate_address
from infernet.protocol.keys import NodeKey

CONFIG = typer.Option(None, "--config", envvar="INFERNET_CONFIG", help="Node config file.")
payout_app = typer.Typer(help="Payout addresses and claims (USDC).", invoke_without_command=True)
price_app = typer.Typer(
    help="What this node charges per 1K tokens, per model.", no_args_is_help=True
)


def payments(config: Path = CONFIG) -> None:
    """Earnings summary: unclaimed balance, paid out, recent jobs (Book §8.4)."""
    with user_errors():
        s = node_call("GET", "/api/v1/payments/summary", config=config)
    console.print("Earnings Summary\n================")
    console.print(f"Unclaimed balance:  {s['unclaimed']} USDC")
    console.print(f"Pending payout:     {s['pending_payout']} USDC")
    console.print(f"Paid out (lifetime): {s['paid_out']} USDC\n")
    console.print("Recent jobs (last 24h):")
    for job in s["recent"] or []:
        when = job["completed_at"].replace("T", " ")[:16]
        marker = " (tokenizer count)" if job["usage_source"] == "tokenizer" else ""
        console.print(
            f"  {job['job_id']}  {job['model']}  {job['tokens']} tokens  "
            f"{job['earned']} USDC  {when}{marker}"
        )
    if not s["recent"]:
        console.print("  (none)")
    console.print(f"Total today: {s['today_jobs']} jobs, {s['today_earned']} USDC")


def _check(coin: str, network: str, address: str) -> tuple[str, str, str]:
    try:
        return check_coin(coin), chain(network).name, validate_address(network, address)
    except AddressError as exc:
        raise fail(f"{exc}", Exit.USAGE) from exc


def _set(coin: str, network: str, address: str, config: Path | None) -> None:
    coin, network, address = _check(coin, network, address)
    with user_errors():
        node_call("PUT", "/api/v1/payouts/address",
                  {"coin": coin, "network": network, "address": address}, config)  # fmt: skip
    console.print(f"Payout address set: {coin} on {network} -> {address}")


def _print_claim(payout: dict[str, Any]) -> None:
    console.print("Initiating payout...")
    console.print(f"  Amount: {payout['amount']} USDC")
    console.print(f"  Destination: {payout['address']}")
    console.print(f"  Chain: {payout['network']}")
    console.print(f"Recorded as {payout['id']}: {payout['detail']}.")


def _claim(network: str | None, config: Path | None) -> None:
    with user_errors():
        payout = node_call("POST", "/api/v1/payouts", {"network": network}, config)
    _print_claim(payout)


def _auto(config: Path | None) -> None:
    with user_errors():
        settings = load_effective_config(config)
        client = ControlPlaneClient(settings.control_plane_url, NodeKey.load(settings.key_file()))

    async def decide() -> str:
        try:
            return await auto_payout(client, settings.auto_payout_threshold)
        finally:
            await client.close()

    try:
        console.print(asyncio.run(decide()))
    except ControlPlaneError as exc:
        raise fail(str(exc), Exit.CONTROL_PLANE) from exc


@payout_app.callback()
def payout(
    ctx: typer.Context,
    set_address: str = typer.Option(None, "--set-address", help="Book form: set the address."),
    chain_name: str = typer.Option("base", "--chain", help="Chain for --set-address."),
    auto: bool = typer.Option(
        False,
        "--auto",
        help="For cron: claim only when earnings reach the config's auto_payout_threshold "
        "and the chain's minimum; below it, say so and exit 0.",
    ),
    config: Path = CONFIG,
) -> None:
    """`infernet payout` claims everything unclaimed; `--set-address ADDR --chain C` sets
    where it goes (or use `payout set`)."""
    if ctx.invoked_subcommand is not None:
        return
    if set_address:
        _set("USDC", chain_name, set_address, config)
        return
    if auto:
        _auto(config)
        return
    _claim(None, config)


@payout_app.command("set")
def payout_set(
    address: str = typer.Option(..., "--address", help="Where payouts go."),
    coin: str = typer.Option("USDC", "--coin", help="Only USDC is paid out."),
    network: str = typer.Option(
        "base", "--network", help="base, ethereum, polygon, arbitrum, solana."
    ),
    config: Path = CONFIG,
) -> None:
    """Set the payout address for a coin and network (checked for that chain)."""
    _set(coin, network, address, config)


@payout_app.command("list")
def payout_list(config: Path = CONFIG) -> None:
    """Payout addresses and past claims."""
    with user_errors():
        found = node_call("GET", "/api/v1/payouts", config=config)
    console.print("Payout addresses:")
    for d in found["destinations"] or []:
        console.print(
            f"  {d['coin']} on {d['network']}: {d['address']} (minimum {d['min_payout']})"
        )
    if not found["destinations"]:
        console.print("  (none: `infernet payout set --coin USDC --network base --address 0x...`)")
    console.print("Payouts:")
    for p in found["payouts"] or []:
        console.print(
            f"  {p['id']}  {p['amount']} USDC  {p['network']}  {p['status']}  {p['created_at']}"
        )
        if p["tx_hash"]:
            block = f" (block {p['block_number']})" if p.get("block_number") else ""
            console.print(f"    tx {p['tx_hash']}{block}")
        if p["status"] != "confirmed":
            console.print(f"    {p['detail']}")
    if not found["payouts"]:
        console.print("  (none)")


@payout_app.command("claim")
def payout_claim(
    network: str = typer.Option(None, "--network", help="Use the address set for this network."),
    config: Path = CONFIG,
) -> None:
    """Claim all unclaimed earnings (recorded in the ledger, paid by the settlement)."""
    _claim(network, config)


@price_app.command("set")
def price_set(
    model: str = typer.Argument(..., help="The model, as this node serves it."),
    input_price: str = typer.Option(..., "--input", help="USDC per 1K input tokens."),
    output_price: str = typer.Option(..., "--output", help="USDC per 1K output tokens."),
    config: Path = CONFIG,
) -> None:
    """Set this node's price for a model. (The router does not weigh price yet.)"""
    body = {"model": model, "input_per_1k": input_price, "output_per_1k": output_price}
    with user_errors():
        found = node_call("PUT", "/api/v1/nodes/me/prices", body, config)
    _print_prices(found)


@price_app.command("list")
def price_list(config: Path = CONFIG) -> None:
    """This node's price for each model it serves (default or set)."""
    with user_errors():
        _print_prices(node_call("GET", "/api/v1/nodes/me/prices", config=config))


def _print_prices(found: dict[str, Any]) -> None:
    console.print(f"Prices for {found['node_id']} (USDC per 1K tokens):")
    for p in found["prices"]:
        console.print(
            f"  {p['model']}  input {p['input_per_1k']}  "
            f"output {p['output_per_1k']}  ({p['source']})"
        )
