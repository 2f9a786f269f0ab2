"""`infernet config set|get|show` and INFERNET_* environment overrides."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infernet.cli.app import app
from infernet.node.config import (
    ConfigError,
    NodeConfig,
    apply_env_overrides,
    load_effective_config,
    save_config,
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    save_config(NodeConfig(served_models=["qwen2.5:7b"]), path)
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_set_validates_and_stores_a_value(config: Path) -> None:
    code, out = run(
        "config", "set", "control_plane_url", "https://cp.example", "--config", str(config)
    )
    assert code == 0, out
    assert json.loads(config.read_text())["control_plane_url"] == "https://cp.example"
    code, _ = run("config", "set", "max_concurrent_jobs", "4", "--config", str(config))
    assert json.loads(config.read_text())["max_concurrent_jobs"] == 4


def test_lists_are_comma_separated(config: Path) -> None:
    run("config", "set", "served_models", "a:1b, b:7b", "--config", str(config))
    assert json.loads(config.read_text())["served_models"] == ["a:1b", "b:7b"]


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("max_concurrent_jobs", "lots", "max_concurrent_jobs"),
        ("max_concurrent_jobs", "0", "greater than or equal to 1"),
        ("control_plane_url", "cp.example", "not a URL"),
        ("no_such_key", "1", "unknown config key"),
        ("env", "not json", "JSON object"),
    ],
)
def test_a_bad_value_leaves_the_file_untouched(
    config: Path, key: str, value: str, says: str
) -> None:
    before = config.read_bytes()
    code, out = run("config", "set", key, value, "--config", str(config))
    assert code == 3
    assert says in out.replace("\n", " ")
    assert config.read_bytes() == before


def test_get_and_show_give_the_effective_value_and_its_source(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERNET_MAX_CONCURRENT_JOBS", "8")
    assert run("config", "get", "max_concurrent_jobs", "--config", str(config)) == (0, "8\n")
    code, out = run("config", "show", "--config", str(config))
    assert code == 0
    assert "env INFERNET_MAX_CONCURRENT_JOBS" in out
    assert "served_models" in out


def test_every_config_key_has_an_environment_override() -> None:
    base = NodeConfig()
    env = {
        "INFERNET_CONTROL_PLANE_URL": "https://cp.example",
        "INFERNET_SERVED_MODELS": "a:1b,b:7b",
        "INFERNET_METRICS_PORT": "0",
        "INFERNET_VLLM_MODEL": "",
        "INFERNET_ENV": '{"OLLAMA_KEEP_ALIVE": "5m"}',
        "INFERNET_TENSOR_PARALLEL_SIZE": "2",
    }
    applied = apply_env_overrides(base, env)
    assert applied.control_plane_url == "https://cp.example"
    assert applied.served_models == ["a:1b", "b:7b"]
    assert applied.metrics_port == 0
    assert applied.vllm_model is None
    assert applied.env == {"OLLAMA_KEEP_ALIVE": "5m"}
    assert applied.tensor_parallel_size == 2


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="INFERNET_MAX_CONCURRENT_JOBS"):
        apply_env_overrides(NodeConfig(), {"INFERNET_MAX_CONCURRENT_JOBS": "many"})


def test_environment_wins_over_the_file_but_is_never_written_back(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERNET_SERVED_MODELS", "env:1b")
    assert load_effective_config(config).served_models == ["env:1b"]
    run("config", "set", "max_concurrent_jobs", "2", "--config", str(config))
    assert json.loads(config.read_text())["served_models"] == ["qwen2.5:7b"]


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("vram_tier", "bogus", "not a VRAM tier; use one of >=48gb, >=24gb"),
        ("vram_tier", ">=16gb", "not a VRAM tier"),
        ("node_id", "hacked", "the control plane assigns it"),
        ("public_key", "abc", "cannot be set by hand"),
        ("served_models", "qwen 2.5", "no spaces"),
        ("served_models", "qwen2.5:7b,-x", "never start with '-'"),
        ("heartbeat_interval_s", "-1", "greater than 0"),
        ("max_concurrent_jobs", "-4", "greater than or equal to 1"),
    ],
)
def test_values_no_node_could_use_are_refused_and_the_file_kept(
    config: Path, key: str, value: str, says: str
) -> None:
    before = config.read_bytes()
    code, out = run("config", "set", key, value, "--config", str(config))
    assert code == 3, out
    assert says in " ".join(out.split())
    assert config.read_bytes() == before


def test_a_tier_override_and_model_names_are_stored_in_their_one_spelling(config: Path) -> None:
    assert run("config", "set", "vram_tier", ">=48GB", "--config", str(config))[0] == 0
    run("config", "set", "served_models", "Qwen2.5:7B, llama3.2:3b", "--config", str(config))
    stored = json.loads(config.read_text())
    assert stored["vram_tier"] == ">=48gb"
    assert stored["served_models"] == ["qwen2.5:7b", "llama3.2:3b"]
    assert run("config", "set", "vram_tier", "", "--config", str(config))[0] == 0
    assert json.loads(config.read_text())["vram_tier"] is None  # back to detection


class Unit:
    def __init__(self, path: Path) -> None:
        self.path = path


def test_after_a_change_it_says_what_applies_it_on_this_machine(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = tmp_path / "infernet.service"
    monkeypatch.setattr("infernet.cli.service.manager", lambda path: Unit(unit))
    _, out = run("config", "set", "max_concurrent_jobs", "2", "--config", str(config))
    assert "No daemon is running" in out and "service restart" not in out
    unit.write_text("[Unit]\n")
    _, out = run("config", "set", "max_concurrent_jobs", "3", "--config", str(config))
    assert "`infernet service restart`" in out
    config.with_name("daemon.pid").write_text(str(os.getpid()))  # a daemon runs
    _, out = run("config", "set", "served_models", "qwen2.5:7b", "--config", str(config))
    assert "at its next heartbeat" in out


def test_get_and_show_speak_json(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERNET_MAX_CONCURRENT_JOBS", "8")
    code, out = run("config", "get", "max_concurrent_jobs", "--json", "--config", str(config))
    assert code == 0
    assert json.loads(out) == {
        "key": "max_concurrent_jobs",
        "value": 8,
        "source": "env INFERNET_MAX_CONCURRENT_JOBS",
    }
    run("config", "set", "api_key", "inft_sk_secret", "--config", str(config))
    data = json.loads(run("config", "show", "--json", "--config", str(config))[1])
    assert data["config_file"] == str(config)
    assert data["keys"]["served_models"] == {"value": ["qwen2.5:7b"], "source": "file"}
    assert data["keys"]["api_key"]["value"] == "(set)"
