"""`infernet keys …`: the node's place in the key hierarchy (Book §6.5, CLI-22).

    list                      user (delegation only), node and model keys
    export node|model <m>     a public key, as npub (default) or hex
    rotate                    new node key; the control plane keeps the old one 24 h
    delegate --user-key FILE  sign "this node key acts for me" with the user key
    import-delegation FILE    store a delegation signed on another machine
    verify FILE               check a delegation, model-key or rotation statement offline
    generate-platform         a control-plane platform signing keypair

Private keys never leave this machine: only public keys and signatures are sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
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
from infernet.node.identity import load_delegation, read_delegation, save_delegation
from infernet.node.model_keys import find_model_key, list_model_keys, resign_model_keys
from infernet.protocol.delegation import (
    DelegationError,
    KeyRotation,
    ModelKeyStatement,
    NodeDelegation,
    delegate_node,
    rotation_statement,
    verify_model_key,
    verify_node_delegation,
    verify_rotation,
)
from infernet.protocol.keys import NodeKey, npub_from_public_hex, parse_public_key
from infernet.protocol.wire import RotateKeyResponse

app = typer.Typer(help="User, node and model keys (Book §6.5).", no_args_is_help=True)
ROTATE_PATH = "/api/v1/node/rotate-key"


def _tilde(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if text.startswith(home + os.sep) else text


def _spelled(public_hex: str, fmt: str) -> str:
    if fmt not in ("hex", "npub"):
        raise fail(f"--format must be hex or npub, not {fmt!r}", Exit.USAGE)
    return public_hex if fmt == "hex" else npub_from_public_hex(public_hex)


def _node(config: Path | None) -> tuple[Path, NodeConfig, NodeKey]:
    path = config or default_config_path()
    settings = load_effective_config(path)  # the control plane the daemon would use
    return path, settings, NodeKey.load(settings.key_file())


def _user_line(config_path: Path, node_key: NodeKey) -> str:
    delegation = load_delegation(config_path)
    if delegation is None:
        return "none (no delegation; `infernet keys delegate --user-key FILE`)"
    user = npub_from_public_hex(delegation.user_pubkey)
    try:
        verify_node_delegation(delegation, node_pubkey=node_key.public_hex)
    except DelegationError as exc:
        return f"{user} (delegation unusable: {exc})"
    return f"{user} (not on this machine — delegation only)"


@app.command("list")
def list_keys(config: Path = CONFIG_OPTION) -> None:
    """Show the user key (delegation), the node key and every model key."""
    with user_errors():
        path, settings, key = _node(config)
        user = _user_line(path, key)
        models = list_model_keys(settings.key_file().parent)
    lines = [
        f"User key:      {user}",
        f"Node key:      {key.npub} ({_tilde(settings.key_file())})",
        "Model keys:" + ("" if models else "    none yet (created when a model is installed)"),
    ]
    width = max((len(m.model) for m in models), default=0)
    for info in models:
        stale = "" if info.node_pubkey == key.public_hex else "  [signed by another node key]"
        npub = npub_from_public_hex(info.public_hex)
        lines.append(f"  {info.model:<{width}}  {npub} ({_tilde(info.path)}){stale}")
    typer.echo("\n".join(lines))


@app.command()
def export(
    kind: str = typer.Argument(..., help="node or model"),
    model: str = typer.Argument(None, help="The model, for `export model <model>`."),
    fmt: str = typer.Option("npub", "--format", help="hex or npub."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Print the node's or a model's public key."""
    with user_errors():
        _, settings, key = _node(config)
        if kind == "node":
            typer.echo(_spelled(key.public_hex, fmt))
            return
        if kind != "model" or not model:
            raise fail("use `infernet keys export node` or `... export model <model>`", Exit.USAGE)
        info = find_model_key(settings.key_file().parent, model)
    if info is None:
        raise fail(f"no key for model {model!r}; it is created when the model is installed")
    typer.echo(_spelled(info.public_hex, fmt))


async def _send_rotation(
    settings: NodeConfig, old: NodeKey, rotation: KeyRotation
) -> RotateKeyResponse:
    client = ControlPlaneClient(settings.control_plane_url, old)
    try:
        return await client.post(ROTATE_PATH, rotation, RotateKeyResponse)
    finally:
        await client.close()


@app.command()
def rotate(config: Path = CONFIG_OPTION) -> None:
    """Replace the node key. The control plane maps the node to the new key and accepts
    the old one for a grace period (24 h by default); then restart the daemon."""
    with user_errors():
        path, settings, old = _node(config)
        key_file = settings.key_file()
        pending = key_file.with_name(key_file.name + ".next")
        if pending.exists():
            raise fail(f"{pending} is left from an interrupted rotation; check it, then remove it")
        new = NodeKey.generate()
        new.save(pending)  # the new key is on disk before the control plane knows it
        try:
            reply = asyncio.run(_send_rotation(settings, old, rotation_statement(old, new)))
        except BaseException:
            pending.unlink(missing_ok=True)
            raise
        os.replace(pending, key_file)
        resign_model_keys(key_file.parent, new)
        update_config(lambda current: setattr(current, "public_key", new.public_hex), path)
    typer.echo(
        f"Node {reply.node_id} now uses {new.npub}\n"
        f"The old key {old.npub} is accepted until {reply.old_key_valid_until}.\n"
        "Restart the daemon to sign with the new key: infernet stop && infernet start"
    )
    if load_delegation(path) is not None:
        console.print("Your delegation names the old key: sign a new one with `keys delegate`.")


@app.command()
def delegate(
    user_key: Path = typer.Option(..., "--user-key", help="The user key file (hex or nsec, 0600)."),
    node: str = typer.Option(
        None, "--node", help="Node public key (npub/hex) when signing for another machine."
    ),
    out: Path = typer.Option(None, "--out", help="Write the delegation here (with --node)."),
    expires_in_days: float = typer.Option(None, "--expires-in-days", help="Default: never."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Sign, with your user key, that a node key acts on your behalf."""
    with user_errors():
        user = NodeKey.load(user_key)
        now = int(time.time())
        expires = now + int(expires_in_days * 86400) if expires_in_days else None
        target = parse_public_key(node) if node is not None else _node(config)[2].public_hex
        delegation = delegate_node(user, target, now=now, expires_at=expires)
        text = delegation.model_dump_json(indent=2, exclude_none=True)
        if node is not None:
            if out is None:
                typer.echo(text)
                return
            out.write_text(text + "\n", encoding="utf-8")
            console.print(
                f"Delegation written to {out}; on the node: infernet keys import-delegation {out}"
            )
            return
        saved = save_delegation(config or default_config_path(), delegation)
    console.print(
        f"Delegation from {user.npub} saved to {_tilde(saved)}; send it with `infernet register`."
    )


@app.command("import-delegation")
def import_delegation(
    file: Path = typer.Argument(..., help="A delegation signed with `keys delegate --node`."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Store a delegation signed on the machine that holds the user key."""
    with user_errors():
        path, _, key = _node(config)
        delegation = read_delegation(file)
        try:
            verify_node_delegation(delegation, node_pubkey=key.public_hex)
        except DelegationError as exc:
            raise fail(f"{file}: {exc}", Exit.CONFIG) from exc
        saved = save_delegation(path, delegation)
    console.print(f"Delegation saved to {_tilde(saved)}; send it with `infernet register`.")


def _np(public_hex: str) -> str:
    return npub_from_public_hex(public_hex)


def _describe(raw: dict[str, object]) -> str:
    kind = raw.get("kind")
    if kind == "node_delegation":
        d = NodeDelegation.model_validate(raw)
        verify_node_delegation(d)
        until = f", until Unix time {d.expires_at}" if d.expires_at else ""
        return f"user {_np(d.user_pubkey)} delegates node {_np(d.node_pubkey)}{until}"
    if kind == "model_key":
        m = ModelKeyStatement.model_validate(raw)
        verify_model_key(m)
        return f"node {_np(m.node_pubkey)} authorizes {_np(m.model_pubkey)} for {m.model}"
    if kind == "key_rotation":
        r = KeyRotation.model_validate(raw)
        verify_rotation(r)
        return f"node key {_np(r.old_pubkey)} was replaced by {_np(r.new_pubkey)}"
    if "node_signature" in raw:
        raise fail(
            "this is a Compute Payment Receipt: check it with `infernet receipts verify FILE`",
            Exit.USAGE,
        )
    raise fail(f"unknown statement kind {kind!r}", Exit.USAGE)


@app.command()
def verify(file: Path = typer.Argument(..., help="A statement file (JSON).")) -> None:
    """Check a delegation, model-key or rotation statement's signatures, offline."""
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}", Exit.USAGE) from exc
    if not isinstance(raw, dict):
        raise fail(f"{file} is not a JSON object", Exit.USAGE)
    try:
        summary = _describe(raw)
    except (DelegationError, ValueError) as exc:
        raise fail(f"INVALID: {exc}", Exit.FAILED) from exc
    typer.echo(f"valid: {summary}")


@app.command("generate-platform")
def generate_platform(
    out: Path = typer.Option(
        None, "--out", help="Save the private key to this file (0600) instead of printing it."
    ),
) -> None:
    """Generate a control-plane platform signing keypair (countersigns receipts)."""
    key = NodeKey.generate()
    if out is not None:
        if out.exists():
            raise fail(f"{out} exists already; choose another path", Exit.USAGE)
        key.save(out)
        typer.echo(f"Platform private key: saved to {out} (mode 0600)")
    else:
        typer.echo(f"Platform private key: {key.private_hex}")
    typer.echo(f"Platform public key: {key.public_hex}")
