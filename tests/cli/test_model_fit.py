"""`infernet model recommend` and `model info`: one size per model name, the one the
install checks, and names only for the node's backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infernet.cli import nodectx
from infernet.cli.app import app
from infernet.node.config import NodeConfig, load_config, save_config
from infernet.protocol.vram import FIT_HEADROOM, estimate_vram
from tests.cli.test_setup import RTX_4090
from tests.fakes.ollama import OllamaState
from tests.fakes.ollama import create_app as ollama_app
from tests.fakes.server import serve

runner = CliRunner()


@pytest.fixture(autouse=True)
def rtx_4090(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodectx, "hardware", lambda: RTX_4090)


@pytest.fixture
def ollama() -> Iterator[tuple[str, OllamaState]]:
    state = OllamaState(installed={"qwen2.5:14b": 9_000_000_000})
    with serve(ollama_app(state)) as url:
        yield url, state


def node(
    tmp_path: Path, url: str, backend: str = "ollama", served: list[str] | None = None
) -> Path:
    path = tmp_path / "config.json"
    config = NodeConfig(backend=backend, ollama_host=url, served_models=served or [])
    save_config(config, path)
    return path


def recommend(config: Path, *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["model", "recommend", "--json", *args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def info(name: str) -> dict[str, object]:
    result = runner.invoke(app, ["model", "info", name, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_recommend_quotes_what_info_says_and_what_install_pulls(
    tmp_path: Path, ollama: tuple[str, OllamaState]
) -> None:
    data = recommend(node(tmp_path, ollama[0]))
    rows = {str(r["name"]): r for r in data["models"]}  # type: ignore[attr-defined]
    assert data["tier"] == ">=24gb" and data["backend"] == "ollama"
    assert (rows["qwen2.5:14b"]["quant"], rows["qwen2.5:14b"]["needs_gb"]) == ("q4", 9.1)
    for name, row in rows.items():
        model = info(name)["model"]
        assert isinstance(model, dict)
        assert (model["quant"], model["needs_gb"]) == (row["quant"], row["needs_gb"]), name
    text = runner.invoke(app, ["model", "recommend", "--config", str(node(tmp_path, ollama[0]))])
    assert "17.2" not in text.output and "Q8" not in text.output


def test_models_without_a_name_for_the_backend_are_not_listed(tmp_path: Path) -> None:
    data = recommend(node(tmp_path, "http://127.0.0.1:9", backend="llamacpp"))
    names = [r["name"] for r in data["models"]]  # type: ignore[attr-defined]
    assert names and all(isinstance(n, str) and n.endswith(".gguf") for n in names)
    text = runner.invoke(
        app, ["model", "recommend", "--config", str(tmp_path / "config.json")]
    ).output
    assert "no llamacpp name" not in text


def test_install_all_keeps_what_is_served_and_fills_the_memory_left(
    tmp_path: Path, ollama: tuple[str, OllamaState]
) -> None:
    url, state = ollama
    config = node(tmp_path, url, served=["qwen2.5:14b"])
    offered = [str(r["name"]) for r in recommend(config)["models"]]  # type: ignore[attr-defined]
    state.registry = {name: [1_000] for name in offered}
    result = runner.invoke(app, ["model", "recommend", "--install-all", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "qwen2.5:14b" not in state.pull_requests and state.pull_requests
    served = load_config(config).served_models
    assert served[0] == "qwen2.5:14b"
    total = 0.0
    for name in served:
        estimate = estimate_vram(name)
        assert estimate is not None
        total += estimate.total_gb
    assert total <= 24.0 * FIT_HEADROOM


def test_info_json_says_whether_it_fits_this_node() -> None:
    data = info("qwen2.5:72b")
    assert data["node"] == {
        "tier": ">=24gb",
        "memory_gb": 24.0,
        "memory_source": "VRAM",
        "fit": "does_not_fit",
        "message": data["node"]["message"],  # type: ignore[index]
    }
    assert info("Qwen/Qwen2.5-7B-Instruct")["model"]["names"]["ollama"] == "qwen2.5:7b"  # type: ignore[index]


def test_info_refuses_a_string_that_is_no_model_name() -> None:
    result = runner.invoke(app, ["model", "info", "qwen 2.5"])
    assert result.exit_code == 2 and "no spaces" in result.output
