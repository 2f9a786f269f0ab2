"""`infernet doctor`: check lines, footer wording, exit status, and the clock check."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from infernet.cli.app import app
from infernet.cli.doctor import (
    NTP_EPOCH_OFFSET,
    Probe,
    check_time,
    footer,
    probe_control_plane,
    sntp_offset,
)
from infernet.node.config import NodeConfig, save_config
from infernet.node.requirements import CheckResult
from tests.fakes.server import closed_url, serve

OK = CheckResult("Config file", "pass", "x")
WARN = CheckResult("served_models mismatch", "warn", "x")
FAIL = CheckResult("Disk space", "fail", "2 GB free (minimum 20 GB recommended)")


def test_the_footer_says_passed_counts_warnings_and_fails_with_exit_1() -> None:
    assert footer([OK, OK]) == ("All checks passed.", 0)
    assert footer([OK, WARN]) == ("All checks passed (1 warning).", 0)
    assert footer([WARN, WARN]) == ("All checks passed (2 warnings).", 0)
    assert footer([OK, WARN, FAIL]) == ("1 check failed.", 1)


@pytest.fixture
def ntp_server_off_by() -> Iterator[tuple[int, list[float]]]:
    """A one-socket SNTP server on loopback whose clock is `skew[0]` seconds ahead."""
    skew = [0.0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                _, peer = sock.recvfrom(64)
            except TimeoutError:
                continue
            now = time.time() + skew[0] + NTP_EPOCH_OFFSET
            reply = bytearray(48)
            reply[0] = 0x24
            reply[40:48] = struct.pack("!II", int(now), int((now % 1) * 2**32))
            sock.sendto(bytes(reply), peer)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield sock.getsockname()[1], skew
    stop.set()
    thread.join(2)
    sock.close()


def test_sntp_measures_the_servers_offset(ntp_server_off_by: tuple[int, list[float]]) -> None:
    port, skew = ntp_server_off_by
    skew[0] = 120.0
    offset = sntp_offset("127.0.0.1", port)
    assert offset is not None and 119 < offset < 121


def test_more_than_30_s_of_drift_fails_with_the_books_wording(
    ntp_server_off_by: tuple[int, list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, skew = ntp_server_off_by
    monkeypatch.setenv("INFERNET_NTP_SERVER", f"127.0.0.1:{port}")
    skew[0] = 252.0
    result = check_time(Probe())
    assert result.status == "fail"
    assert result.detail.startswith("4m 12s drift from NTP (max 30s)")
    skew[0] = 0.0
    assert check_time(Probe()).status == "pass"


def test_without_ntp_the_control_planes_clock_stands_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERNET_NTP_SERVER", "127.0.0.1:9")  # discard port: no answer
    result = check_time(Probe(latency_ms=3.0, clock_offset_s=-45.0))
    assert result.status == "fail" and "the control plane's clock" in result.detail


def test_doctor_without_a_config_prints_the_header_and_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["doctor", "--config", str(tmp_path / "none.json")])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[:2] == ["Infernet Node Diagnostics", "========================="]
    assert lines[2].startswith("[OK] CLI version: ")
    assert lines[3].startswith("[FAIL] Config file: no config at")
    assert lines[-1] == "1 check failed."


def test_upload_latency_is_the_round_trip_not_the_clients_setup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building an HTTP client (TLS context, certificates) took 260-521 ms on a slow
    machine; a control plane on the same machine answers in 1-3 ms."""
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    slow_init = httpx.Client.__init__

    def slow_setup(self: httpx.Client, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.4)
        slow_init(self, *args, **kwargs)

    with serve(app) as url:
        monkeypatch.setattr(httpx.Client, "__init__", slow_setup)
        probe = probe_control_plane(url)
    assert probe.error == "" and probe.latency_ms is not None
    assert probe.latency_ms < 200  # 400 ms of setup is not latency


def test_doctor_json_lists_every_check_in_words_and_keeps_the_exit_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERNET_NTP_SERVER", "127.0.0.1:9")
    down = closed_url()
    config = tmp_path / "config.json"
    settings = NodeConfig(control_plane_url=closed_url(), backend="ollama", ollama_host=down)
    save_config(settings, config)
    result = CliRunner().invoke(app, ["doctor", "--json", "--config", str(config)])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert data["exit_code"] == 1 and data["summary"].endswith("failed.")
    assert checks["Control plane"]["status"] == "fail"
    assert "connection refused" in checks["Control plane"]["detail"]
    backend = checks["Backend (ollama)"]["detail"]
    assert backend.count(down) == 1 and "not reachable at" not in backend
    assert "ollama serve" in backend
    assert not [c for c in data["checks"] if "Error(" in c["detail"]]  # no Python reprs
