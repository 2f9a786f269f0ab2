"""`infernet model ...` against a protocol-faithful fake Ollama."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infernet.backends.base import InstalledModel
from infernet.cli import nodectx
from infernet.cli.app import app
from infernet.cli.model import inventory
from infernet.cli.model_fit import fit_together
from infernet.node.config import NodeConfig, load_config, save_config
from infernet.node.models import ModelManager
from tests.cli.test_setup import RTX_4090
from tests.fakes.ollama import OllamaState
from tests.fakes.ollama import create_app as ollama_app
from tests.fakes.server import closed_url, serve

runner = CliRunner()


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture
def ollama() -> Iterator[tuple[str, OllamaState]]:
    state = OllamaState(
        registry={"llama3.2:3b": [1_500_000_000, 500_000_000]},
        installed={"qwen2.5:0.5b": 397_000_000},
        loaded={"qwen2.5:0.5b"},
    )
    with serve(ollama_app(state)) as url:
        yield url, state


@pytest.fixture
def config(tmp_path: Path, ollama: tuple[str, OllamaState]) -> Path:
    path = tmp_path / "config.json"
    save_config(
        NodeConfig(backend="ollama", ollama_host=ollama[0], served_models=["qwen2.5:0.5b"]), path
    )
    return path


def test_install_pulls_with_a_progress_bar_and_lists_the_model(
    config: Path, ollama: tuple[str, OllamaState]
) -> None:
    result = runner.invoke(
        app, ["model", "install", "llama3.2:3b", "--verbose", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "Pulling llama3.2:3b from Ollama registry..." in result.output
    assert "100%" in result.output and "(2.0 GB / 2.0 GB)" in result.output
    assert "verifying sha256 digest" in result.output  # --verbose shows each status
    assert "Added llama3.2:3b to served_models." in result.output
    assert "daemon is not running" in result.output
    assert load_config(config).served_models == ["qwen2.5:0.5b", "llama3.2:3b"]
    assert "llama3.2:3b" in ollama[1].installed


def test_a_failed_pull_exits_5_and_leaves_the_config_alone(config: Path) -> None:
    before = config.read_bytes()
    result = runner.invoke(app, ["model", "install", "nosuch:7b", "--config", str(config)])
    assert result.exit_code == 5, result.output
    assert "file does not exist" in result.output
    assert config.read_bytes() == before


def test_a_name_for_another_backend_is_a_usage_error_naming_the_right_one(config: Path) -> None:
    result = runner.invoke(
        app, ["model", "install", "Qwen/Qwen2.5-7B-Instruct", "--config", str(config)]
    )
    assert result.exit_code == 2
    assert "qwen2.5:7b" in result.output


def test_list_shows_model_size_backend_status_and_json(
    config: Path, ollama: tuple[str, OllamaState]
) -> None:
    save_config(
        NodeConfig(
            backend="ollama", ollama_host=ollama[0], served_models=["qwen2.5:0.5b", "qwen2.5:14b"]
        ),
        config,
    )
    table = runner.invoke(app, ["model", "list", "--config", str(config)])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["Model", "Size", "Backend", "Status"]
    assert lines[1].split() == ["qwen2.5:0.5b", "397.0", "MB", "ollama", "loaded"]
    assert lines[2].split() == ["qwen2.5:14b", "-", "ollama", "missing"]
    data = json.loads(
        runner.invoke(app, ["model", "list", "--json", "--config", str(config)]).output
    )
    assert {m["name"]: m["status"] for m in data["models"]} == {
        "qwen2.5:0.5b": "loaded",
        "qwen2.5:14b": "missing",
    }


def test_remove_deletes_the_weights_and_drops_the_model(
    config: Path, ollama: tuple[str, OllamaState]
) -> None:
    result = runner.invoke(app, ["model", "remove", "qwen2.5:0.5b", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "Removed qwen2.5:0.5b from served_models." in result.output
    assert ollama[1].installed == {}
    assert load_config(config).served_models == []


def test_inventory_reports_installed_but_unserved_models_separately() -> None:
    rows = inventory(
        ["a:1b"], [InstalledModel("a:1b", 5, False), InstalledModel("b:1b", 7, True)], "ollama"
    )
    assert [(r["name"], r["status"], r["served"]) for r in rows] == [
        ("a:1b", "installed", True),
        ("b:1b", "loaded", False),
    ]


def test_install_all_picks_models_that_fit_together() -> None:
    picks = [("big", 17.0), ("mid", 6.0), ("small", 2.0)]
    assert fit_together(picks, 24.0) == ["big", "small"]


def test_info_prints_the_estimate_and_names_per_backend() -> None:
    result = runner.invoke(app, ["model", "info", "Qwen/Qwen2.5-14B-Instruct"])
    assert result.exit_code == 0, result.output
    assert "Parameters:   14.7B" in result.output
    assert "FP16 29.4 GB, INT8 14.7 GB, Q4 7.3 GB" in result.output
    assert "qwen2.5:14b" in result.output and "This node" in result.output


# --- names: one check before anything happens, one spelling after -------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "give a model name"),
        ("a" * 300, "at most 128 characters"),
        ("qwen 2.5", "did you mean 'qwen2.5'"),
        ("-x", "never start with '-'"),
    ],
)
def test_a_string_that_is_no_model_name_is_refused_before_anything_is_pulled(
    config: Path, ollama: tuple[str, OllamaState], name: str, says: str
) -> None:
    before = config.read_bytes()
    result = runner.invoke(app, ["model", "install", "--config", str(config), "--", name])
    assert result.exit_code == 2, result.output
    assert says in flat(result.output)
    assert "Traceback" not in result.output
    assert ollama[1].pull_requests == []
    assert config.read_bytes() == before


def test_a_name_in_another_case_is_installed_once_under_its_one_spelling(
    config: Path, ollama: tuple[str, OllamaState]
) -> None:
    ollama[1].registry["qwen2.5:7b"] = [1_000_000]
    first = runner.invoke(app, ["model", "install", "Qwen2.5:7B", "--config", str(config)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["model", "install", "QWEN2.5:7b", "--config", str(config)])
    assert "qwen2.5:7b is already in served_models." in again.output
    assert load_config(config).served_models == ["qwen2.5:0.5b", "qwen2.5:7b"]
    assert ollama[1].pull_requests == ["qwen2.5:7b"]
    listed = json.loads(
        runner.invoke(app, ["model", "list", "--json", "--config", str(config)]).stdout
    )
    assert [(m["name"], m["status"]) for m in listed["models"]] == [
        ("qwen2.5:0.5b", "loaded"),
        ("qwen2.5:7b", "installed"),
    ]


# --- the backend down, Ctrl-C, a model that does not fit -----------------------------------


@pytest.fixture
def ollama_down(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    save_config(
        NodeConfig(backend="ollama", ollama_host=closed_url(), served_models=["qwen2.5:7b"]), path
    )
    return path


def test_install_with_ollama_down_says_how_to_start_it_in_words(ollama_down: Path) -> None:
    before = ollama_down.read_bytes()
    result = runner.invoke(app, ["model", "install", "llama3.2:3b", "--config", str(ollama_down)])
    assert result.exit_code == 5
    out = flat(result.output)
    assert "cannot reach Ollama at http://127.0.0.1:" in out
    assert "connection refused" in out and "ollama serve" in out
    assert "ConnectError" not in out and "Error(" not in out
    assert ollama_down.read_bytes() == before


def test_list_with_the_backend_down_still_prints_the_config_as_json_and_exits_5(
    ollama_down: Path,
) -> None:
    result = runner.invoke(app, ["model", "list", "--json", "--config", str(ollama_down)])
    assert result.exit_code == 5
    data = json.loads(result.stdout)
    assert data["models"] == [
        {
            "name": "qwen2.5:7b",
            "size_bytes": None,
            "backend": "ollama",
            "status": "unknown",
            "served": True,
        }
    ]
    assert data["backend"]["reachable"] is False and "ollama serve" in data["backend"]["error"]
    table = runner.invoke(app, ["model", "list", "--config", str(ollama_down)])
    assert table.exit_code == 5 and "qwen2.5:7b" in table.stdout and "unknown" in table.stdout


def test_ctrl_c_during_a_pull_exits_130_and_leaves_the_config_alone(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(self: ModelManager, name: str, progress: object = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ModelManager, "pull", interrupted)
    before = config.read_bytes()
    result = runner.invoke(app, ["model", "install", "llama3.2:3b", "--config", str(config)])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output
    assert config.read_bytes() == before


def test_a_q4_model_that_does_not_fit_is_told_to_choose_a_smaller_model_or_force(
    config: Path, ollama: tuple[str, OllamaState], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nodectx, "hardware", lambda: RTX_4090)
    ollama[1].registry["qwen2.5:72b"] = [41_000_000_000]
    result = runner.invoke(app, ["model", "install", "qwen2.5:72b", "--config", str(config)])
    assert result.exit_code == 1
    out = flat(result.output)
    assert "choose a smaller model" in out and "Use --force to install it anyway." in out
    assert "smaller quantization" not in out
    assert ollama[1].pull_requests == []


def test_a_bad_entry_an_older_version_let_in_can_still_be_removed(
    config: Path, ollama: tuple[str, OllamaState]
) -> None:
    save_config(
        NodeConfig(backend="ollama", ollama_host=ollama[0], served_models=["qwen 2.5"]), config
    )
    result = runner.invoke(app, ["model", "remove", "qwen 2.5", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert load_config(config).served_models == []
