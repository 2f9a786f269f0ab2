"""Oversize input and connection floods are bounded. A body over `max_body_bytes` is 413
with the Book's envelope, whether it announces its length or streams in chunks; headers
past the HTTP server's limit are refused with a 4xx (431/400, uvicorn's own answer) and
the server keeps serving; 2,000 idle TCP connections neither stop it answering nor grow
its memory without bound."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from infernet.backends.engine_process import free_port
from infernet.controlplane.settings import Settings
from tests.support.harness import Harness, running

MAX_BODY = 8_192
IDLE_CONNECTIONS = 2_000
JOB = {"model": "m:1b", "messages": [{"role": "user", "content": "x" * (MAX_BODY * 2)}]}


def too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "payload_too_large"
    assert "bytes" in response.json()["error_message"]


async def test_an_oversize_body_is_413_with_the_envelope_however_it_is_sent(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, Settings(max_body_bytes=MAX_BODY)) as harness:
        await _oversize(harness)


async def _oversize(harness: Harness) -> None:
    async with harness.client() as api:
        too_large(await api.post("/api/v1/jobs", json=JOB))

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b"x" * MAX_BODY

        too_large(await api.post("/api/v1/jobs", content=chunks()))  # no Content-Length
        too_large(await api.post("/api/v1/heartbeat", content=b"{" * (MAX_BODY + 1)))
        openai = await api.post("/v1/chat/completions", json=JOB)
        assert openai.status_code == 413 and openai.json()["error"]["code"] == "payload_too_large"
        listed = (await api.get("/api/v1/jobs")).json()["jobs"]
    assert listed == [], "nothing was stored"


async def test_oversize_headers_are_refused_and_the_server_keeps_serving(tmp_path: Path) -> None:
    async with running(tmp_path) as harness, harness.client() as api:
        for headers in ({"X-Big": "a" * 200_000}, {f"X-H{i}": "v" * 100 for i in range(2_000)}):
            try:
                response = await api.get("/api/v1/jobs", headers=headers)
            except (httpx.RemoteProtocolError, httpx.ReadError):  # closed unanswered: refused
                continue
            assert response.status_code in (400, 413, 431), response.text
        assert (await api.get("/api/v1/jobs")).status_code == 200


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[str]:
    """`infernet cp serve` in its own process, so its memory is its own."""
    port = free_port()
    argv = [str(Path(sys.executable).parent / "infernet"), "cp", "serve", "--port", str(port)]
    argv += ["--db", f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}", "--no-payments"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield f"{url}|{proc.pid}"
    finally:
        proc.terminate()
        proc.wait(20)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_two_thousand_idle_connections_are_bounded(control_plane: str) -> None:
    url, pid = control_plane.split("|")
    port = int(url.rsplit(":", 1)[1])
    httpx.get(f"{url}/healthz")
    before = rss_kib(int(pid))
    idle: list[socket.socket] = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(1)  # let the server accept them all
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        grown_mib = (rss_kib(int(pid)) - before) / 1024
    finally:
        for sock in idle:
            sock.close()
    print(f"RSS growth with {IDLE_CONNECTIONS} idle connections: {grown_mib:.1f} MiB")
    assert grown_mib < 100, f"{grown_mib:.0f} MiB for idle sockets"
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
