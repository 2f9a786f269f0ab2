"""Settlement for `infernet cp serve` and `infernet cp reconcile`: the options, the check
before serving, and reconciliation on demand.

Exit codes: 3 for settings or keys that cannot work (an unknown chain, no --rpc-url, a
key file readable by others, an endpoint serving another chain), 4 when the chain's RPC
endpoint cannot be reached; `reconcile` exits 1 when it finds a difference.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import typer

from infernet.cli.common import Exit, console, fail
from infernet.controlplane.settings import Settings
from infernet.protocol.money import from_micros, show
from infernet.settlement.base import Settlement
from infernet.settlement.errors import ChainUnavailable, SettlementConfigError, SettlementError
from infernet.settlement.reconcile import ReconciliationReport
from infernet.settlement.settings import SettlementSettings

SETTLEMENT_OPTION = typer.Option(
    "ledger",
    "--settlement",
    envvar="INFERNET_SETTLEMENT",
    help="ledger: no chain, deposits are ledger credits (demos, private networks); "
    "evm: USDC deposits and payouts on --chain.",
)
CHAIN_OPTION = typer.Option(
    "base", "--chain", envvar="INFERNET_CHAIN", help="base, ethereum, polygon or arbitrum."
)
RPC_URL_OPTION = typer.Option(
    None, "--rpc-url", envvar="INFERNET_RPC_URL", help="JSON-RPC endpoint of a --chain node."
)
XPUB_OPTION = typer.Option(
    None,
    "--deposit-xpub",
    envvar="INFERNET_DEPOSIT_XPUB",
    help="Extended public key of m/44'/60'/0'/0: each account's deposit address is a child "
    "of it (the seed stays offline). None: deposits are off.",
)
KEY_FILE_OPTION = typer.Option(
    None,
    "--hot-wallet-key-file",
    envvar="INFERNET_HOT_WALLET_KEY_FILE",
    help="File (mode 0600) holding the key that pays payouts; or set INFERNET_HOT_WALLET_KEY. "
    "Neither: payouts wait.",
)
CONFIRMATIONS_OPTION = typer.Option(
    None,
    "--confirmations",
    envvar="INFERNET_CONFIRMATIONS",
    help="Blocks on top before a deposit is credited or a payout done (default: the chain's).",
)
ALERT_OPTION = typer.Option(
    None,
    "--alert-account",
    envvar="INFERNET_ALERT_ACCOUNT",
    help="Account whose Slack/Discord webhooks are told of reconciliation differences.",
)
SETTLEMENT_SETTING_OPTION = typer.Option(
    [],
    "--settlement-setting",
    help="KEY=VALUE for any other settlement setting (repeatable): start_block, chain_id, "
    "usdc_address (testnets), tick_interval_s, reconcile_interval_s, max_fee_per_gas, ...",
)
T = TypeVar("T")
OPTION_NAMES = {
    "settlement": "mode",
    "chain": "chain",
    "rpc_url": "rpc_url",
    "deposit_xpub": "deposit_xpub",
    "hot_wallet_key_file": "hot_wallet_key_file",
    "confirmations": "confirmations",
    "alert_account": "alert_account",
}


def settlement_from(params: Mapping[str, Any]) -> SettlementSettings:
    """The settlement settings from a command's parsed options (`ctx.params`)."""
    given = {field: params[name] for name, field in OPTION_NAMES.items() if name in params}
    overrides: dict[str, Any] = {}
    for item in params.get("settlement_setting") or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise fail(f"--settlement-setting {item!r}: write KEY=VALUE.", Exit.USAGE)
        if key in SettlementSettings.model_fields and key != "overrides":
            given[key] = value
        else:
            overrides[key] = value
    with settlement_errors():
        _check_keys(overrides)
        return SettlementSettings.model_validate({**given, "overrides": overrides})


def _check_keys(overrides: Mapping[str, Any]) -> None:
    if not overrides:
        return
    from infernet.settlement.evm.config import EvmSettings

    unknown = sorted(set(overrides) - set(EvmSettings.model_fields))
    if unknown:
        known = sorted(
            {*SettlementSettings.model_fields, *EvmSettings.model_fields} - {"overrides"}
        )
        raise SettlementConfigError(
            f"Unknown settlement setting {', '.join(unknown)}; known: {', '.join(known)}."
        )


@contextmanager
def settlement_errors() -> Iterator[None]:
    """Settings problems exit 3, an unreachable chain 4, anything else settlement 1."""
    from pydantic import ValidationError

    try:
        yield
    except (SettlementConfigError, ValidationError) as exc:
        raise fail(str(exc), Exit.CONFIG) from exc
    except ChainUnavailable as exc:
        raise fail(str(exc), Exit.CONTROL_PLANE) from exc
    except SettlementError as exc:
        raise fail(str(exc), Exit.FAILED) from exc


async def _with_settlement(settings: Settings, work: Callable[[Settlement], Awaitable[T]]) -> T:
    """Run `work` on the settlement over the control plane's database, checked first."""
    from infernet.controlplane.money.ledger import Ledger
    from infernet.controlplane.money.settlement_store import DbSettlementStore
    from infernet.controlplane.store.db import open_database
    from infernet.settlement.factory import open_settlement

    engine = await open_database(settings.database_url)
    try:
        settlement = open_settlement(settings.settlement, DbSettlementStore(engine, Ledger(engine)))
        try:
            await settlement.check()
            return await work(settlement)
        finally:
            await settlement.close()
    finally:
        await engine.dispose()


def check_before_serving(settings: Settings) -> None:
    """Keys, settings and the endpoint, before the control plane serves anything."""
    if settings.settlement.mode == "ledger":
        return
    if not settings.payments_enabled:
        raise fail("--settlement evm needs payments: drop --no-payments.", Exit.CONFIG)
    with settlement_errors():
        console.print(asyncio.run(_with_settlement(settings, lambda s: s.check())), markup=False)


def report_json(report: ReconciliationReport) -> dict[str, Any]:
    def amount(micros: int | None) -> str | None:
        return None if micros is None else show(from_micros(micros))

    return {
        "network": report.network,
        "checked_at": report.checked_at.isoformat(),
        "from_block": report.from_block,
        "to_block": report.to_block,
        "ok": report.ok,
        "checked": report.checked,
        "differences": [
            {
                "kind": d.kind,
                "subject": d.subject,
                "ledger": amount(d.ledger_micros),
                "chain": amount(d.chain_micros),
                "detail": d.detail,
                "in_progress": d.in_progress,
            }
            for d in report.differences
        ],
        "note": report.note,
    }


def reconcile(settings: Settings, as_json: bool) -> None:
    """Compare ledger and chain; print every difference; exit 1 if there is one."""
    with settlement_errors():
        report = asyncio.run(_with_settlement(settings, lambda s: s.reconcile()))
    if as_json:
        typer.echo(json.dumps(report_json(report)))
    else:
        for line in report.lines():
            console.print(line, markup=False)
    if not report.ok:
        raise typer.Exit(int(Exit.FAILED))
