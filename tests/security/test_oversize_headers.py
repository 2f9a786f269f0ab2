"""A request head over the HTTP server's limit gets a status the client can read: 431
`request_header_fields_too_large` in the Book's envelope (controlplane/web/server.py),
not a bare connection reset, and the server keeps serving."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest

from infernet.controlplane.web.server import HEADERS_TOO_LARGE
from tests.support.harness import running

ONE_HUGE = {"X-Big": "a" * 200_000}
MANY = {f"X-H{i}": "v" * 100 for i in range(2_000)}


@pytest.mark.parametrize("headers", [ONE_HUGE, MANY], ids=["one huge header", "many headers"])
async def test_oversize_headers_get_a_readable_431_with_the_envelope(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    async with running(tmp_path) as harness, harness.client() as api:
        response = await api.get("/api/v1/jobs", headers=headers)
        assert response.status_code == 431, response.text
        assert response.json()["error"] == HEADERS_TOO_LARGE
        assert "headers" in response.json()["error_message"]
        assert response.headers["connection"] == "close"
        assert (await api.get("/api/v1/jobs")).status_code == 200


def _raw_exchange(url: str, *parts: bytes) -> bytes:
    """Send the request's ``parts`` on a plain socket, 0.3 s apart (so the server reads
    them apart), and read until the server closes."""
    port = httpx.URL(url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, part in enumerate(parts):
            time.sleep(0.3 if i else 0)
            conn.sendall(part)
        received = b""
        while chunk := conn.recv(65_536):
            received += chunk
        return received


async def test_a_raw_client_reads_the_431_before_the_connection_ends(tmp_path: Path) -> None:
    head = b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    async with running(tmp_path) as harness:
        answer = await asyncio.to_thread(_raw_exchange, harness.url, head)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert HEADERS_TOO_LARGE.encode() in answer


async def test_a_malformed_request_line_is_still_uvicorns_400(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        answer = await asyncio.to_thread(_raw_exchange, harness.url, b"NOT A REQUEST\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]


async def test_an_oversize_head_that_arrives_whole_is_refused_too(tmp_path: Path) -> None:
    # 40 KB sent at once on loopback usually arrives complete in one read.
    head = b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    async with running(tmp_path) as harness:
        answer = await asyncio.to_thread(_raw_exchange, harness.url, head)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


async def test_a_body_larger_than_the_head_limit_is_not_mistaken_for_a_head(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as harness, harness.client() as api:
        response = await api.post("/api/v1/jobs", content=b"x" * 50_000)
    assert response.status_code != 431


async def test_each_head_on_a_kept_alive_connection_is_counted_on_its_own(
    tmp_path: Path,
) -> None:
    # 40 requests with 1 KB of headers each: 40 KB on one connection, each head well
    # within the limit; then an oversize head on the same connection.
    async with running(tmp_path) as harness, harness.client() as api:
        for _ in range(40):
            response = await api.get("/api/v1/jobs", headers={"X-Pad": "p" * 1_000})
            assert response.status_code == 200
        assert (await api.get("/api/v1/jobs", headers=ONE_HUGE)).status_code == 431


async def test_a_blank_line_split_between_two_reads_still_ends_the_head(tmp_path: Path) -> None:
    # The head's last "\n" arrives with a 40 KB body: counted as head, it would be a 431.
    body = b"x" * 40_000
    head = (
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r" % len(body)
    )
    async with running(tmp_path) as harness:
        answer = await asyncio.to_thread(_raw_exchange, harness.url, head, b"\n" + body)
    assert answer.startswith(b"HTTP/1.1 4"), answer[:200]
    assert not answer.startswith(b"HTTP/1.1 431 "), answer[:200]
