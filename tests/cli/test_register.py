"""`infernet register`: the control plane the daemon would use (environment included),
named in the output, and JSON for scripts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from infernet.cli.app import app
from infernet.node.config import NodeConfig, load_config, save_config
from infernet.protocol.keys import NodeKey
from tests.fakes.server import closed_url
from tests.support.harness import running


def node_config(tmp_path: Path) -> Path:
    key = tmp_path / "keys" / "node.key"
    NodeKey.generate().save(key)
    path = tmp_path / "config.json"
    save_config(NodeConfig(control_plane_url=closed_url(), key_path=str(key)), path)
    return path


def register(config: Path, url: str, *args: str) -> tuple[int, str]:
    env = {"INFERNET_CONTROL_PLANE_URL": url}
    result = CliRunner().invoke(app, ["register", *args, "--config", str(config)], env=env)
    return result.exit_code, result.stdout


async def test_register_uses_infernet_control_plane_url_and_says_so(tmp_path: Path) -> None:
    config = node_config(tmp_path)
    (tmp_path / "cp").mkdir()
    async with running(tmp_path / "cp") as harness:
        code, out = await asyncio.to_thread(register, config, harness.url)
        again, as_json = await asyncio.to_thread(register, config, harness.url, "--json")
    assert code == 0, out
    assert f"Registering node with {harness.url}..." in out
    node_id = load_config(config).node_id
    assert node_id is not None and f"Node ID: {node_id}" in out
    assert again == 0
    assert json.loads(as_json) == {
        "node_id": node_id,
        "status": "registered",
        "control_plane_url": harness.url,
        "user_key": None,
    }


def test_an_unreachable_control_plane_exits_4_in_words(tmp_path: Path) -> None:
    url = closed_url()
    result = CliRunner().invoke(
        app,
        ["register", "--config", str(node_config(tmp_path))],
        env={"INFERNET_CONTROL_PLANE_URL": url},
    )
    assert result.exit_code == 4
    out = " ".join(result.output.split())
    assert f"cannot reach the control plane at {url}: connection refused" in out
