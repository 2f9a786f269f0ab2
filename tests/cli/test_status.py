"""`infernet status`: what the daemon's status file and the control plane say."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infernet.cli import status as status_cli
from infernet.cli.app import app
from infernet.node.config import NodeConfig, save_config
from infernet.node.status_file import StatusSnapshot, status_path, write_status
from tests.cli.test_setup import RTX_4090
from tests.fakes.server import closed_url


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(status_cli, "hardware", lambda: RTX_4090)
    config = tmp_path / "config.json"
    save_config(NodeConfig(control_plane_url=closed_url(), served_models=["qwen2.5:14b"]), config)
    now = time.time()
    snapshot = StatusSnapshot(
        pid=os.getpid(),
        version="0.1.0",
        node_id="node_8f3a2c1d",
        control_plane_url=closed_url(),
        started_at=now - 200,
        last_heartbeat_at=now - 18,
        backend="ollama",
        backend_host="http://localhost:11434",
        backend_healthy=True,
        served_models=["qwen2.5:14b"],
        loaded_models=["qwen2.5:14b"],
        vram_tier=">=24gb",
        active_jobs=1,
    )
    write_status(status_path(config), snapshot)
    return config


def test_status_prints_the_node_summary(node: Path) -> None:
    result = CliRunner().invoke(app, ["status", "--config", str(node)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Node:           node_8f3a2c1d" in out
    assert "Uptime:         3 minutes" in out
    assert "Backend:        ollama (http://localhost:11434)" in out
    assert "Models:         qwen2.5:14b" in out
    assert "Tier:           >=24gb" in out
    assert "GPU:            NVIDIA GeForce RTX 4090 (24 GB) — 0% utilized" in out
    assert "Jobs:           1 running (max 1)" in out
    assert "Last heartbeat: 18 seconds ago" in out
    assert "Status:         unknown: unreachable" in out


def test_status_json_has_the_gpu_utilization_and_every_field(node: Path) -> None:
    result = CliRunner().invoke(app, ["status", "--json", "--config", str(node)])
    data = json.loads(result.output)
    assert data["gpu"]["utilization"] == 0.0
    assert data["tier"] == ">=24gb" and data["node_id"] == "node_8f3a2c1d"
    assert data["served_models"] == ["qwen2.5:14b"] and data["daemon_running"] is True
    assert 17 < data["heartbeat_age_s"] < 30 and data["active_jobs"] == 1
    assert data["control_plane"]["reachable"] is False
