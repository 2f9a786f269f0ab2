"""`infernet cp ...`: run and administer a control plane."""

from __future__ import annotations

import asyncio
import json

import typer
import uvicorn

from infernet.cli.common import console
from infernet.cli.cp_settlement import (
    ALERT_OPTION,
    CHAIN_OPTION,
    CONFIRMATIONS_OPTION,
    KEY_FILE_OPTION,
    RPC_URL_OPTION,
    SETTLEMENT_OPTION,
    SETTLEMENT_SETTING_OPTION,
    XPUB_OPTION,
    check_before_serving,
    settlement_from,
)
from infernet.cli.cp_settlement import reconcile as run_reconcile
from infernet.cli.cp_verification import (
    HIDDEN_CHECKS_OPTION,
    VERIFIER_OPTION,
    VERIFY_SHARE_OPTION,
    verification_from,
)
from infernet.controlplane.app import create_app
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.accounts import create_account as store_create_account
from infernet.controlplane.store.accounts import issue_key
from infernet.controlplane.store.db import open_database
from infernet.controlplane.store.invites import IssuedInvite, create_invite
from infernet.controlplane.web.server import LimitedHttpToolsProtocol
from infernet.logs import setup_logging

app = typer.Typer(help="Run and administer a control plane.", no_args_is_help=True)

DB_OPTION = typer.Option(
    "sqlite+aiosqlite:///infernet.db",
    "--db",
    envvar="INFERNET_DATABASE_URL",
    help="SQLAlchemy URL of the database (SQLite file by default).",
)


PAYMENTS_OPTION = typer.Option(
    True,
    "--payments/--no-payments",
    envvar="PAYMENTS_ENABLED",
    help="Escrow, receipts and the ledger (PAYMENTS_ENABLED=false runs without).",
)
REDIS_OPTION = typer.Option(
    None,
    "--redis",
    envvar="INFERNET_REDIS_URL",
    help="Redis URL shared by several replicas (docs/deploy.md); none: one process.",
)
REGISTRATION_OPTION = typer.Option(
    True,
    "--open-registration/--require-registration-token",
    envvar="INFERNET_OPEN_REGISTRATION",
    help="Let any node register, or only with an inft_reg_ token from its owner.",
)
APPROVAL_OPTION = typer.Option(
    False,
    "--require-node-approval",
    envvar="REQUIRE_NODE_APPROVAL",
    help="New nodes get no jobs until their owner approves them (private networks).",
)
ADMIN_OPTION = typer.Option(
    [],
    "--admin",
    envvar="INFERNET_ADMIN_ACCOUNTS",
    help="A platform admin's account id (repeatable): may act on any node and credit "
    "balances (Book ADV-02). `infernet cp create-account` prints an account's id.",
)
HEARTBEAT_OPTION = typer.Option(
    30.0, help="Seconds between node heartbeats (nodes are told it in every reply)."
)
METRICS_TOKEN_OPTION = typer.Option(
    None,
    "--metrics-token",
    envvar="INFERNET_METRICS_TOKEN",
    help="Require `Authorization: Bearer TOKEN` on GET /metrics (its per-node series name "
    "node ids and earnings); without it /metrics is open.",
)
OPEN_DEPOSITS_OPTION = typer.Option(
    False,
    "--open-deposits",
    envvar="INFERNET_OPEN_DEPOSITS",
    help="Let every key holder credit its own balance (a local demo only; otherwise "
    "crediting is an admin action).",
)
INVITE_OPTION = typer.Option(
    False, "--require-invite", help="Sign-up needs a code from `infernet cp invite`."
)
JOB_TIMEOUT_OPTION = typer.Option(
    300.0,
    "--job-timeout",
    envvar="INFERNET_JOB_TIMEOUT_S",
    min=1.0,
    help="Seconds after submission a job may take before it fails with `timeout`.",
)
WEBHOOK_HOST_OPTION = typer.Option(
    [],
    "--webhook-host",
    envvar="INFERNET_WEBHOOK_HOSTS",
    help="A host offline notifications may post to besides Slack's and Discord's "
    "(repeatable; e.g. a Slack-compatible Mattermost).",
)


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8700, help="TCP port."),
    db: str = DB_OPTION,
    heartbeat_interval: float = HEARTBEAT_OPTION,
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    require_invite: bool = INVITE_OPTION,
    payments: bool = PAYMENTS_OPTION,
    platform_key: str = typer.Option(
        None, "--platform-key", help="Receipt countersigning key (default: beside the DB)."
    ),
    redis: str = REDIS_OPTION,
    replica_id: str = typer.Option(
        None, "--replica-id", envvar="INFERNET_REPLICA_ID", help="This replica's name."
    ),
    open_registration: bool = REGISTRATION_OPTION,
    require_node_approval: bool = APPROVAL_OPTION,
    webhook_host: list[str] = WEBHOOK_HOST_OPTION,
    admin: list[str] = ADMIN_OPTION,
    open_deposits: bool = OPEN_DEPOSITS_OPTION,
    metrics_token: str = METRICS_TOKEN_OPTION,
    job_timeout: float = JOB_TIMEOUT_OPTION,
    settlement: str = SETTLEMENT_OPTION,
    chain: str = CHAIN_OPTION,
    rpc_url: str = RPC_URL_OPTION,
    deposit_xpub: str = XPUB_OPTION,
    hot_wallet_key_file: str = KEY_FILE_OPTION,
    confirmations: int = CONFIRMATIONS_OPTION,
    alert_account: str = ALERT_OPTION,
    settlement_setting: list[str] = SETTLEMENT_SETTING_OPTION,
    verifier: list[str] = VERIFIER_OPTION,
    verify_share: float = VERIFY_SHARE_OPTION,
    hidden_check_interval: float = HIDDEN_CHECKS_OPTION,
) -> None:
    """Run a control plane in the foreground (API, node channel, OpenAPI docs at /docs)."""
    setup_logging(log_level)
    settings = Settings(
        database_url=db,
        public_url=f"http://{host}:{port}",
        heartbeat_interval_s=heartbeat_interval,
        redis_url=redis,
        replica_id=replica_id,
        payments_enabled=payments,
        platform_key_path=platform_key,
        require_invite=require_invite,
        open_registration=open_registration,
        require_node_approval=require_node_approval,
        webhook_hosts=webhook_host,
        admin_accounts=admin,
        open_deposits=open_deposits,
        metrics_token=metrics_token,
        job_timeout_s=job_timeout,
        settlement=settlement_from(ctx.params),
        **verification_from(ctx.params),
    )
    check_before_serving(settings)  # exit 3 (settings, keys) or 4 (no chain) before serving
    _run(settings, host, port)


def _run(settings: Settings, host: str, port: int) -> None:
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        http=LimitedHttpToolsProtocol,  # a readable 431 on oversize heads (web/server.py)
    )


@app.command()
def reconcile(
    ctx: typer.Context,
    db: str = DB_OPTION,
    settlement: str = SETTLEMENT_OPTION,
    chain: str = CHAIN_OPTION,
    rpc_url: str = RPC_URL_OPTION,
    deposit_xpub: str = XPUB_OPTION,
    hot_wallet_key_file: str = KEY_FILE_OPTION,
    confirmations: int = CONFIRMATIONS_OPTION,
    settlement_setting: list[str] = SETTLEMENT_SETTING_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Compare the ledger with the chain: deposits credited vs transfers seen, payouts
    recorded vs sent, the hot wallet vs what is owed. Exit 0: none; 1: differences (each
    printed); 3: settings or keys; 4: the chain's RPC endpoint cannot be reached."""
    settings = Settings(database_url=db, settlement=settlement_from(ctx.params))
    run_reconcile(settings, as_json)


@app.command("create-account")
def create_account(
    name: str = typer.Argument(..., help="A name for the account."),
    db: str = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Create a client account and its first API key (the key is shown only now)."""

    async def run() -> tuple[str, str]:
        engine = await open_database(db)
        try:
            account = await store_create_account(engine, name)
            key = await issue_key(engine, account, "default")
            return account, key.secret
        finally:
            await engine.dispose()

    account, secret = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps({"account_id": account, "api_key": secret}))
    else:
        console.print(f"Account: {account}\nAPI key: [bold]{secret}[/] (shown once; keep it)")


@app.command()
def invite(
    note: str = typer.Option("", "--note", help="Who the code is for (kept with it)."),
    db: str = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Create a one-use sign-up code (for a control plane run with --require-invite)."""

    async def run() -> IssuedInvite:
        engine = await open_database(db)
        try:
            return await create_invite(engine, note)
        finally:
            await engine.dispose()

    issued = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps({"id": issued.id, "invite_code": issued.code}))
    else:
        console.print(
            f"Invite code: [bold]{issued.code}[/] (one sign-up; shown once)\n"
            'Sign up with: POST /api/v1/accounts {"name": ..., "invite_code": ...}'
        )
