"""`infernet status`: what the daemon's status file and the control plane say."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from infernet.cli import nodectx
from infernet.cli import status as status_cli
from infernet.cli.app import app
from infernet.cli.status import human_duration
from infernet.node.config import NodeConfig, save_config
from infernet.node.status_file import StatusSnapshot, read_status, status_path, write_status
from tests.cli.test_setup import RTX_4090
from tests.fakes.server import closed_url
from tests.support.harness import running
from tests.support.scripted import ScriptedBackend


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(nodectx, "hardware", lambda: RTX_4090)
    now = time.time()
    # The report reads the clock once: pinned, "18 seconds ago" holds however slow the run.
    monkeypatch.setattr(status_cli, "time", SimpleNamespace(time=lambda: now))
    config = tmp_path / "config.json"
    save_config(NodeConfig(control_plane_url=closed_url(), served_models=["qwen2.5:14b"]), config)
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
        jobs_completed=41,
        jobs_failed=2,
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
    assert "Jobs:           1 running (max 1), 41 completed, 2 failed since start" in out
    assert "Last heartbeat: 18 seconds ago" in out
    assert "Status:         unknown: unreachable" in out


def test_status_json_has_the_gpu_utilization_and_every_field(node: Path) -> None:
    result = CliRunner().invoke(app, ["status", "--json", "--config", str(node)])
    data = json.loads(result.output)
    assert data["gpu"]["utilization"] == 0.0
    assert data["tier"] == ">=24gb" and data["node_id"] == "node_8f3a2c1d"
    assert data["served_models"] == ["qwen2.5:14b"] and data["daemon_running"] is True
    assert 17 < data["heartbeat_age_s"] < 30 and data["active_jobs"] == 1
    assert (data["jobs_completed"], data["jobs_failed"]) == (41, 2)
    assert data["control_plane"]["reachable"] is False


async def test_the_running_daemon_counts_the_jobs_it_finished_for_status(tmp_path: Path) -> None:
    async with running(tmp_path) as harness, harness.client() as api:
        node = await harness.add_node(ScriptedBackend(["m:1b"]), heartbeat_interval_s=0.2)
        job = {"model": "m:1b", "messages": [{"role": "user", "content": "hi"}]}
        assert (await api.post("/api/v1/jobs", json=job)).status_code in (200, 201, 202)
        async with asyncio.timeout(20):  # the next heartbeat rewrites the snapshot
            while (snapshot := read_status(status_path(node.config_path))) is None or (
                snapshot.jobs_completed == 0
            ):
                await asyncio.sleep(0.05)
        assert (snapshot.jobs_completed, snapshot.jobs_failed) == (1, 0)


def test_durations_are_spelled_in_words_with_singulars() -> None:
    assert human_duration(1) == "1 second"
    assert human_duration(18) == "18 seconds"
    assert human_duration(61) == "1 minute"
    assert human_duration(3 * 60 + 5) == "3 minutes"


def test_no_color_prints_no_escape_codes_even_inside_model_names(tmp_path: Path) -> None:
    """rich emboldens the digits in `qwen2.5:14b` on its own; NO_COLOR turns every style
    off (the console is forced into terminal mode, where styles would show)."""
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    done = subprocess.run(
        [sys.executable, "-m", "infernet.cli", "model", "info", "qwen2.5:14b"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "qwen2.5:14b" in done.stdout
    assert "\x1b[" not in done.stdout + done.stderr
