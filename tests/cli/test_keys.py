"""`infernet keys …`, `infernet register` and `infernet node token` as an operator uses them."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from typer.testing import CliRunner, Result

from infernet.cli.app import app
from infernet.node.config import NodeConfig, load_config, save_config
from infernet.node.model_keys import ensure_model_key
from infernet.protocol.delegation import NodeDelegation, verify_node_delegation
from infernet.protocol.keys import NodeKey
from tests.support.harness import Harness, running
from tests.support.signed import heartbeat

runner = CliRunner()


class Node:
    """A node's config and key files under a temporary directory."""

    def __init__(self, home: Path, url: str = "http://127.0.0.1:9") -> None:
        self.config = home / "config" / "config.json"
        self.key_file = home / "keys" / "node.key"
        self.key = NodeKey.generate()
        self.key.save(self.key_file)
        save_config(NodeConfig(control_plane_url=url, key_path=str(self.key_file)), self.config)

    def run(self, *args: str) -> Result:
        return runner.invoke(app, [*args, "--config", str(self.config)])


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def user_key(tmp_path: Path) -> tuple[NodeKey, Path]:
    key = NodeKey.generate()
    return key, key.save(tmp_path / "elsewhere" / "user.key")


def test_keys_list_shows_the_hierarchy_like_the_book(node: Node, tmp_path: Path) -> None:
    ensure_model_key(node.key_file.parent, node.key, "qwen2.5:14b")
    result = node.run("keys", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("User key:      none")
    assert lines[1] == f"Node key:      {node.key.npub} ({node.key_file})"
    assert lines[2] == "Model keys:"
    assert lines[3].startswith("  qwen2.5:14b  npub1") and "models/qwen2.5:14b.key" in lines[3]


def test_export_prints_public_keys_only(node: Node) -> None:
    assert node.run("keys", "export", "node").output.strip() == node.key.npub
    assert node.run("keys", "export", "node", "--format", "hex").output.strip() == (
        node.key.public_hex
    )
    made = ensure_model_key(node.key_file.parent, node.key, "m:1b")
    exported = node.run("keys", "export", "model", "m:1b", "--format", "hex")
    assert exported.output.strip() == made.key.public_hex
    assert node.run("keys", "export", "node", "--format", "pem").exit_code == 2
    missing = node.run("keys", "export", "model", "absent")
    assert missing.exit_code == 1 and "created when the model is installed" in missing.output


def test_delegating_on_the_node_stores_the_delegation(node: Node, tmp_path: Path) -> None:
    user, user_file = user_key(tmp_path)
    result = node.run("keys", "delegate", "--user-key", str(user_file))
    assert result.exit_code == 0, result.output
    stored = NodeDelegation.model_validate_json(
        (node.config.parent / "delegation.json").read_text()
    )
    verify_node_delegation(stored, node_pubkey=node.key.public_hex)
    assert stored.user_pubkey == user.public_hex
    listed = node.run("keys", "list").output.splitlines()[0]
    assert listed == f"User key:      {user.npub} (not on this machine — delegation only)"


def test_a_delegation_signed_elsewhere_is_imported_after_checking_it(
    node: Node, tmp_path: Path
) -> None:
    _, user_file = user_key(tmp_path)
    signed = tmp_path / "delegation-for-node.json"
    made = runner.invoke(
        app,
        [
            "keys",
            "delegate",
            "--user-key",
            str(user_file),
            "--node",
            node.key.npub,
            "--out",
            str(signed),
            "--expires-in-days",
            "30",
        ],
    )
    assert made.exit_code == 0, made.output
    assert node.run("keys", "import-delegation", str(signed)).exit_code == 0
    assert (node.config.parent / "delegation.json").exists()
    other = Node(tmp_path / "other")
    refused = other.run("keys", "import-delegation", str(signed))
    assert refused.exit_code == 3 and "another node key" in refused.output


def test_verify_checks_a_statement_offline(node: Node, tmp_path: Path) -> None:
    _, user_file = user_key(tmp_path)
    node.run("keys", "delegate", "--user-key", str(user_file))
    path = node.config.parent / "delegation.json"
    ok = runner.invoke(app, ["keys", "verify", str(path)])
    assert ok.exit_code == 0 and ok.output.startswith("valid: user npub1")
    raw = json.loads(path.read_text())
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps({**raw, "created_at": raw["created_at"] + 1}))
    bad = runner.invoke(app, ["keys", "verify", str(tampered)])
    assert bad.exit_code == 1 and "INVALID" in bad.output and "bad signature" in bad.output
    model = ensure_model_key(node.key_file.parent, node.key, "m:1b")
    assert (
        runner.invoke(app, ["keys", "verify", str(model.path.with_suffix(".json"))]).exit_code == 0
    )


def test_generate_platform_prints_or_saves_a_keypair(tmp_path: Path) -> None:
    printed = runner.invoke(app, ["keys", "generate-platform"])
    private = printed.output.splitlines()[0].removeprefix("Platform private key: ")
    public = printed.output.splitlines()[1].removeprefix("Platform public key: ")
    assert NodeKey.from_hex(private).public_hex == public
    out = tmp_path / "platform.key"
    saved = runner.invoke(app, ["keys", "generate-platform", "--out", str(out)])
    assert saved.exit_code == 0 and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert NodeKey.load(out).public_hex in saved.output and "saved to" in saved.output
    assert runner.invoke(app, ["keys", "generate-platform", "--out", str(out)]).exit_code == 2


async def cli(node: Node, *args: str) -> Result:
    """Run a command in a worker thread: it has its own event loop, the harness ours."""
    return await asyncio.to_thread(node.run, *args)


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    (tmp_path / "cp").mkdir()
    async with running(tmp_path / "cp") as h:
        yield h


async def test_register_with_a_token_records_the_node_id_and_is_idempotent(
    harness: Harness, tmp_path: Path
) -> None:
    node = Node(tmp_path / "n", harness.url)
    token = await asyncio.to_thread(
        runner.invoke,
        app,
        ["node", "token", "--url", harness.url, "--api-key", harness.api_key],
    )
    assert token.exit_code == 0, token.output
    value = token.output.split("Registration token: ")[1].split()[0]
    first = await cli(node, "register", "--token", value)
    assert first.exit_code == 0, first.output
    node_id = load_config(node.config).node_id
    assert (
        node_id and f"Node ID: {node_id}" in first.output and "Status: registered" in first.output
    )
    again = await cli(node, "register")
    assert again.exit_code == 0 and f"Node ID: {node_id}" in again.output


async def test_rotate_moves_the_node_to_a_new_key_and_keeps_the_old_one_for_now(
    harness: Harness, tmp_path: Path
) -> None:
    node = Node(tmp_path / "n", harness.url)
    assert (await cli(node, "register")).exit_code == 0
    model = ensure_model_key(node.key_file.parent, node.key, "m:1b")
    rotated = await cli(node, "keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    new = NodeKey.load(node.key_file)
    assert new != node.key and load_config(node.config).public_key == new.public_hex
    assert not node.key_file.with_name("node.key.next").exists()
    assert f"now uses {new.npub}" in rotated.output and "accepted until" in rotated.output
    after = ensure_model_key(node.key_file.parent, new, "m:1b")
    assert after.key == model.key and after.statement.node_pubkey == new.public_hex
    for key in (node.key, new):
        assert (await heartbeat(harness, key, [])).status_code == 200


async def test_rotate_changes_nothing_when_the_control_plane_refuses(tmp_path: Path) -> None:
    (tmp_path / "cp").mkdir()
    async with running(tmp_path / "cp") as harness:
        node = Node(tmp_path / "n", harness.url)  # never registered: the key is unknown
        result = await cli(node, "keys", "rotate")
    assert result.exit_code == 4 and "unknown key" in result.output
    assert NodeKey.load(node.key_file) == node.key
    assert not node.key_file.with_name("node.key.next").exists()
