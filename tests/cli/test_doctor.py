"""`infernet doctor`: check lines, footer wording, exit status, and the clock check."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infernet.cli.app import app
from infernet.cli.doctor import NTP_EPOCH_OFFSET, Probe, check_time, footer, sntp_offset
from infernet.node.requirements import CheckResult

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
