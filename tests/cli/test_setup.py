"""`infernet setup`: the wizard's steps and output, against a fake Ollama and a real
control plane on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import stat
from pathlib import Path

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from infernet.cli import nodectx
from infernet.cli.app import app
from infernet.cli.setup import OLLAMA_INSTALL, Defaults, Terminal, Wizard
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
        f"Registering node with {harness.url}...",
        "  Status: registered",
        "Setup complete. Run `infernet start` to bring your node online.",
    ]
    for line in expected:
        assert line in out.splitlines(), (line, out)
    assert "Pulling qwen2.5:14b..." in out and "100%" in out and "8.1 GB" in out
    assert "  Public key: npub1" in out
    assert "qwen2.5:14b" in state.installed
    assert config.served_models == ["qwen2.5:14b"]
    assert config.vram_tier is None  # detected at every start, never pinned
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


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["setup", *args], env=env)


async def test_the_backend_is_saved_where_it_was_found_even_through_ollama_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service started later has no OLLAMA_HOST in its environment: the config must
    hold the address setup used."""
    state = OllamaState(registry={"qwen2.5:14b": [1_000]})
    (tmp_path / "cp").mkdir()
    async with running(tmp_path / "cp") as harness:
        with serve(ollama_app(state)) as ollama:
            setup = wizard(tmp_path, harness.url, ollama)
            save_config(NodeConfig(key_path=str(tmp_path / "keys" / "node.key")), setup.config_path)
            monkeypatch.setenv("OLLAMA_HOST", ollama)
            assert await setup.run() == 0
    config = load_config(setup.config_path)
    assert (config.backend, config.ollama_host) == ("ollama", ollama)


async def test_setup_yes_exits_non_zero_and_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_ram = dataclasses.replace(RTX_4090, ram_total_gb=7.8)  # under the 32 GB minimum
    state = OllamaState(registry={"qwen2.5:72b": [41_000_000_000]})
    (tmp_path / "cp").mkdir()
    async with running(tmp_path / "cp") as harness:
        with serve(ollama_app(state)) as ollama:
            setup = wizard(tmp_path, harness.url, ollama)
            setup.report, setup.model = small_ram, "qwen2.5:72b"  # does not fit 24 GB
            code = await setup.run()
    out = " ".join(capsys.readouterr().out.split())
    assert code == 1
    assert "Setup complete" not in out
    assert "Setup finished, but:" in out
    assert "- requirement checks failed: RAM" in out
    assert "- model qwen2.5:72b not pulled: it does not fit" in out
    assert state.pull_requests == []


def test_a_model_that_is_no_model_name_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.json"
    result = invoke(["--yes", "--model", "qwen 2.5", "--config", str(config)])
    assert result.exit_code == 2 and "no spaces" in result.output
    assert not config.exists()


def test_setup_on_a_stdin_that_is_not_a_terminal_says_to_pass_yes(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    result = invoke(["--config", str(config)])
    assert result.exit_code == 2
    assert "--yes" in result.output and "Aborted" not in result.output
    assert not config.exists()


async def test_ctrl_c_at_a_prompt_exits_130_with_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("typer._click.termui.visible_prompt_func", interrupted)
    setup = wizard(tmp_path, closed_url(), closed_url())
    before = setup.config_path.read_bytes()
    setup.ask, setup.token = Terminal(), None
    with pytest.raises(typer.Exit) as stopped:
        await setup.run()
    assert stopped.value.exit_code == 130
    assert setup.config_path.read_bytes() == before
    assert not (tmp_path / "keys" / "node.key").exists()


async def test_setup_json_prints_one_summary_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nodectx, "hardware", lambda: RTX_4090)
    state = OllamaState(registry={"qwen2.5:14b": [1_000]})
    (tmp_path / "cp").mkdir()
    async with running(tmp_path / "cp") as harness:
        with serve(ollama_app(state)) as ollama:
            config = wizard(tmp_path, harness.url, ollama).config_path
            args = ["--json", "--control-plane", harness.url, "--config", str(config)]
            result = await asyncio.to_thread(invoke, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["problems"] == []
    assert summary["node_id"] == load_config(config).node_id
    assert (summary["tier"], summary["backend"], summary["model"]) == (
        ">=24gb",
        "ollama",
        "qwen2.5:14b",
    )
    assert "Detecting hardware..." in result.stderr
