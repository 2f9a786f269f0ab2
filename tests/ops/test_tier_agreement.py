"""The tier comes from the hardware at every start unless the operator pins it with
`vram_tier`; `status`, `model recommend` and the heartbeat always say the same tier.
The machine is an RTX 4090 seen through an `nvidia-smi` stand-in whose driver can break."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infernet.cli.app import app
from infernet.node.config import NodeConfig, load_config, save_config
from infernet.node.daemon import NodeDaemon
from infernet.protocol.keys import NodeKey
from tests.fakes.server import closed_url
from tests.support.nvidia_smi import NvidiaSmi, stand_in
from tests.support.scripted import ScriptedBackend


@pytest.fixture
def gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NvidiaSmi:
    return stand_in(tmp_path, monkeypatch)


def node_config(tmp_path: Path, **fields: object) -> Path:
    path = tmp_path / "config.json"
    values = {"control_plane_url": closed_url(), "backend": "ollama", "ollama_host": closed_url()}
    save_config(NodeConfig.model_validate(values | fields), path)
    return path


async def tiers(config: Path) -> tuple[str, str, str]:
    """(status, model recommend, heartbeat) tiers for this node right now."""
    runner = CliRunner()
    status = json.loads(runner.invoke(app, ["status", "--json", "--config", str(config)]).output)
    recommend = runner.invoke(app, ["model", "recommend", "--json", "--config", str(config)])
    settings = load_config(config)
    daemon = NodeDaemon(settings, NodeKey.generate(), ScriptedBackend(["m:1b"]))
    beat = await daemon.build_heartbeat()
    await daemon.client.close()
    return status["tier"], json.loads(recommend.output)["tier"], beat.vram_tier


async def test_the_detected_tier_follows_the_driver_everywhere(
    tmp_path: Path, gpu: NvidiaSmi
) -> None:
    config = node_config(tmp_path)
    assert await tiers(config) == (">=24gb", ">=24gb", ">=24gb")
    gpu.broken()
    assert await tiers(config) == ("cpu", "cpu", "cpu")
    gpu.working()
    assert await tiers(config) == (">=24gb", ">=24gb", ">=24gb")


async def test_an_explicit_override_is_what_all_three_report_and_status_shows_both(
    tmp_path: Path, gpu: NvidiaSmi
) -> None:
    config = node_config(tmp_path, vram_tier=">=48gb")  # e.g. a multi-GPU rig's operator
    assert await tiers(config) == (">=48gb", ">=48gb", ">=48gb")
    gpu.broken()
    out = CliRunner().invoke(app, ["status", "--config", str(config)]).output
    assert "Tier:           >=48gb (vram_tier in the config; the hardware says cpu)" in out


def test_setup_does_not_pin_the_tier_and_drops_one_an_earlier_setup_pinned(
    tmp_path: Path, gpu: NvidiaSmi
) -> None:
    key = tmp_path / "keys" / "node.key"
    config = node_config(tmp_path, vram_tier=">=24gb", key_path=str(key))
    result = CliRunner().invoke(app, ["setup", "--yes", "--config", str(config)])
    assert "Tier: >=24gb" in result.output
    assert load_config(config).vram_tier is None
    assert json.loads(config.read_text())["vram_tier"] is None
