"""`--version` hints, the install record `upgrade`/`remove` use, and draining a daemon."""

from __future__ import annotations

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from infernet.node.lifecycle import (
    InstallRecord,
    drain_daemon,
    fetch_latest,
    version_hint,
    version_key,
)


def test_versions_compare_numerically() -> None:
    assert version_key("v0.10.2") > version_key("0.9.9")
    assert version_key("0.1.0") == version_key("v0.1.0")


def test_the_hint_says_up_to_date_or_names_the_newer_version() -> None:
    assert version_hint("0.2.0", "0.2.0") == "  up to date"
    assert version_hint("0.2.0", "0.1.9") == "  up to date"
    assert version_hint("0.2.0", "0.3.0") == "  update available: 0.3.0 (run `infernet upgrade`)"
    assert version_hint("0.2.0", None) is None


def test_an_unreachable_control_plane_gives_no_version() -> None:
    assert fetch_latest("http://127.0.0.1:9", timeout_s=1.0) is None


def test_the_control_planes_version_is_read_from_get_version() -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"version": "9.9.9"}).encode()
            self.send_response(200 if self.path == "/version" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert fetch_latest(f"http://127.0.0.1:{server.server_port}", timeout_s=5.0) == "9.9.9"
    finally:
        server.shutdown()


def test_the_install_record_is_found_beside_the_venv_and_reruns_the_same_installer(
    tmp_path: Path,
) -> None:
    record = {
        "source": "/src/infernet",
        "prefix": str(tmp_path),
        "venv": str(tmp_path / "venv"),
        "link": "/home/ann/.local/bin/infernet",
    }
    (tmp_path / "install.json").write_text(json.dumps(record))
    found = InstallRecord.find(tmp_path / "venv")
    assert found is not None
    assert found.reinstall_argv() == [
        "bash",
        "/src/infernet/install.sh",
        "--prefix",
        str(tmp_path),
        "--no-setup",
        "--bin-dir",
        "/home/ann/.local/bin",
    ]
    assert InstallRecord.find(tmp_path / "elsewhere" / "venv") is None


def test_draining_sends_sigusr2_and_waits_for_the_daemon_to_exit() -> None:
    sent: list[tuple[int, int]] = []
    alive = iter([True, True, False])
    result = drain_daemon(
        42,
        60.0,
        kill=lambda pid, sig: sent.append((pid, sig)),
        alive=lambda pid: next(alive),
        sleep=lambda s: None,
    )
    assert sent == [(42, signal.SIGUSR2)]
    assert result.exited
