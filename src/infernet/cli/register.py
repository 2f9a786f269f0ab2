"""`infernet register`: announce this node to its control plane (Book §2.2, §2.4, §4.1).

Signs a registration with the node key and sends only public material: the node's public
key, its name, the one-time token (``inft_reg_…``, from the account owner's
`infernet node token`), and the operator's delegation if one was stored with
`infernet keys delegate` / `infernet keys import-delegation`. The node id it gets back is
written to the config. Running it again is harmless: the same key gets the same node id
(a token is consumed only the first time). The daemon registers on start too, without a
token, so on networks that need one run this first.

The control plane is the one the daemon would use: `control_plane_url` from the config,
overridden by `INFERNET_CONTROL_PLANE_URL`, overridden by `--control-plane`; the command
says which one it asked. A refusal (bad or used token, bad delegation) exits 4.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from infernet.cli.common import Exit, console, fail, user_errors
from infernet.cli.node import CONFIG_OPTION
from infernet.node.client import ControlPlaneClient
from infernet.node.config import (
    NodeConfig,
    default_config_path,
    load_effective_config,
    update_config,
)
from infernet.node.identity import load_delegation
from infernet.protocol.delegation import DelegationError, NodeDelegation, verify_node_delegation
from infernet.protocol.keys import NodeKey, npub_from_public_hex
from infernet.protocol.wire import RegisterRequest, RegisterResponse

REGISTER_PATH = "/api/v1/node/register"


async def send_registration(
    config: NodeConfig, key: NodeKey, token: str | None, delegation: NodeDelegation | None
) -> RegisterResponse:
    client = ControlPlaneClient(config.control_plane_url, key)
    try:
        request = RegisterRequest(
            public_key=key.public_hex,
            name=config.name,
            registration_token=token,
            delegation=delegation,
        )
        return await client.post(REGISTER_PATH, request, RegisterResponse)
    finally:
        await client.close()


def _checked_delegation(config_path: Path, key: NodeKey) -> NodeDelegation | None:
    delegation = load_delegation(config_path)
    if delegation is None:
        return None
    try:
        verify_node_delegation(delegation, node_pubkey=key.public_hex)
    except DelegationError as exc:
        raise fail(f"the stored delegation cannot be used: {exc}", Exit.CONFIG) from exc
    return delegation


def register(
    token: str = typer.Option(
        None,
        "--token",
        envvar="INFERNET_REGISTRATION_TOKEN",
        help="One-time registration token inft_reg_... from the account owner.",
    ),
    control_plane: str = typer.Option(
        None,
        "--control-plane",
        help="Control plane URL (default: the config's, or $INFERNET_CONTROL_PLANE_URL).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Register this node with its control plane (idempotent: same key, same node id)."""
    path = config or default_config_path()
    with user_errors():
        settings = load_effective_config(path)
        if control_plane:
            settings.control_plane_url = control_plane
        key = NodeKey.load(settings.key_file())
        delegation = _checked_delegation(path, key)
        if not as_json:
            console.print(f"Registering node with {settings.control_plane_url}...")
        reply = asyncio.run(send_registration(settings, key, token, delegation))

        def record(current: NodeConfig) -> None:
            current.node_id = reply.node_id
            current.public_key = key.public_hex

        update_config(record, path)
    if as_json:
        user = npub_from_public_hex(delegation.user_pubkey) if delegation else None
        body: dict[str, object] = {"node_id": reply.node_id, "status": reply.status}
        body |= {"control_plane_url": settings.control_plane_url, "user_key": user}
        typer.echo(json.dumps(body, indent=2))
        return
    console.print(f"  Node ID: {reply.node_id}\n  Status: {reply.status}")
    if delegation is not None:
        console.print(f"  User key: {npub_from_public_hex(delegation.user_pubkey)}")
    if reply.status == "pending_approval":
        console.print(
            "This network approves nodes by hand: the account owner runs "
            f"`infernet node approve {reply.node_id}`. Until then the node gets no jobs."
        )
