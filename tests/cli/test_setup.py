"""`infernet setup`: the wizard's steps and output, against a fake Ollama and a real
control plane on loopback."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from infernet.cli.setup import OLLAMA_INSTALL, Defaults, Wizard
from infernet.controlplane.store import nodes as node_store
from infernet.node.config import NodeConfig, load_config, save_config
from infernet.node.gpus import GpuInfo
from infernet.node.hardware import HardwareReport
from infernet.node.host import DiskInfo, OsInfo
from tests.fakes.ollama import OllamaState
from tests.fakes.ollama import create_app as ollama_app
from tests.fakes.server import closed_url, serve
from tests.support.harness import running

RTX_4090 = HardwareReport(
    gpus=(GpuInfo("nvidia", "NVIDIA GeForce RTX 4090", 24564, 0, 0.0, "550.54", "12.4"),),
    probes=(),
    tier=">=24gb",
    ram_total_gb=62.7,
    cpu_cores=16,
    os=OsInfo("linux", "ubuntu", "22.04", "Ubuntu 22.04.4 LTS"),
    disk=DiskInfo("/models", 1000.0, 800.0, "nvme0n1", True, False),
)


def wizard(tmp_path: Path, url: str, ollama: str) -> Wizard:
    config = tmp_path / "config.json"
    key = tmp_path / "keys" / "node.key"
    save_config(NodeConfig(backend="ollama", ollama_host=ollama, key_path=str(key)), config)
    return Wizard(config, url, Defaults(), RTX_4090, token="")


async def test_setup_yes_pulls_the_tier_default_writes_the_config_and_registers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = OllamaState(registry={"qwen2.5:14b": [8_100_000_000]})
    (tmp_path / "cp").mkdir()
    async with running(tmp_path / "cp") as harness:
        with serve(ollama_app(state)) as ollama:
            code = await wizard(tmp_path, harness.url, ollama).run()
        out = capsys.readouterr().out
        config = load_config(tmp_path / "config.json")
        row = await node_store.node_by_id(harness.control_plane.services.db, config.node_id or "")
    assert code == 0, out
    expected = [
        "Infernet Node Setup",
        "Detecting hardware...",
        "  GPU: NVIDIA GeForce RTX 4090 (24 GB VRAM)",
        "  Tier: >=24gb",
        "  RAM: 63 GB",
        "Checking inference backends...",
        "Generating node keypair...",
        "Registering node...",
        "  Status: registered",
        "Setup complete. Run `infernet start` to bring your node online.",
    ]
    for line in expected:
        assert line in out.splitlines(), (line, out)
    assert "Pulling qwen2.5:14b..." in out and "100%" in out and "8.1 GB" in out
    assert "  Public key: npub1" in out
    assert "qwen2.5:14b" in state.installed
    assert config.served_models == ["qwen2.5:14b"] and config.vram_tier == ">=24gb"
    assert config.control_plane_url == harness.url
    assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == 0o600
    assert row is not None and row["public_key"] == config.public_key


async def test_setup_without_a_backend_says_how_to_install_ollama_and_exits_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("OLLAMA_HOST", "INFERNET_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "cp").mkdir()
    async with running(tmp_path / "cp") as harness:
        setup = wizard(tmp_path, harness.url, closed_url())
        save_config(
            NodeConfig(
                ollama_host=closed_url(),
                vllm_host=closed_url(),
                sglang_host=closed_url(),
                max_host=closed_url(),
                llamacpp_host=closed_url(),
                key_path=str(tmp_path / "keys" / "node.key"),
            ),
            setup.config_path,
        )
        code = await setup.run()
    out = capsys.readouterr().out
    assert code == 5
    assert "ollama: not found" in out
    assert OLLAMA_INSTALL in out
    assert "  Status: registered" in out  # key, config and registration still happen
