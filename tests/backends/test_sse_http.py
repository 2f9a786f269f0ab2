"""The lean engine client (`sse_http`) that `stream_chat` uses for plain-HTTP engines:
the same lines, statuses and errors httpx would give, and kept-alive connections that
survive an engine closing them while idle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from infernet.backends import sse_http
from infernet.backends.base import Finish, GenerationRequest, TokenDelta
from infernet.backends.errors import BackendError, BackendUnavailable, ModelNotLoaded
from infernet.backends.openai_compat import stream_chat

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
CHAT = [
    b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n',
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n',
    b"data: [DONE]\n\n",
]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return await reader.readexactly(length)


def chunked(parts: list[bytes]) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def answering(response: bytes) -> Handler:
    """An engine that reads one request, writes `response` and hangs up."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response)
        await writer.drain()
        writer.close()

    return serve


@asynccontextmanager
async def engine(handler: Handler) -> AsyncIterator[httpx.AsyncClient]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0)
    try:
        yield client
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


def request() -> GenerationRequest:
    return GenerationRequest(model="m", messages=(), max_tokens=8)


async def events(client: httpx.AsyncClient) -> list[object]:
    return [e async for e in stream_chat(client, request())]


def pieces(events: list[object]) -> list[str]:
    """The texts the events carried, in order, however the reads grouped them."""
    return [text for e in events if isinstance(e, TokenDelta) for text in e.texts]


async def test_a_chunked_stream_gives_its_tokens_and_the_engines_usage() -> None:
    async with engine(answering(chunked(CHAT))) as client:
        assert sse_http.usable(client)
        got = await events(client)
    assert got[0] == TokenDelta(("Hel", "lo"))  # read at once, they come as one event
    assert isinstance(got[1], Finish) and got[1].usage.completion_tokens == 2


@pytest.mark.parametrize("step", [1, 3, 7, 50])
async def test_chunks_split_anywhere_across_reads_give_the_same_answer(step: int) -> None:
    """The chunked body arrives `step` bytes at a time: cut inside size lines, data and
    line ends, the answer is the same and the connection is kept for the next request."""
    answers, connections = 0, 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answers, connections
        connections += 1
        while not reader.at_eof():
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            answers += 1
            body = chunked(CHAT)
            for at in range(0, len(body), step):
                writer.write(body[at : at + step])
                await writer.drain()
                await asyncio.sleep(0)

    async with engine(serve) as client:
        first, second = await events(client), await events(client)
    assert pieces(first) == pieces(second) == ["Hel", "lo"]
    assert answers == 2 and connections == 1
    assert first[-1] == second[-1] and isinstance(first[-1], Finish)
    assert first[-1].usage.completion_tokens == 2


async def test_a_connection_the_engine_closed_while_idle_is_replaced() -> None:
    served = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await read_request(reader)
        served += 1
        writer.write(chunked(CHAT))  # keep-alive allowed, but closed right after
        await writer.drain()
        writer.close()

    async with engine(serve) as client:
        first, second = await events(client), await events(client)
    assert first == second and served == 2


async def test_connections_are_kept_alive_between_requests() -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                await read_request(reader)
                writer.write(chunked(CHAT))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async with engine(serve) as client:
        for _ in range(3):
            await events(client)
    assert connections == 1


async def test_a_404_means_the_model_is_not_loaded() -> None:
    body = b'{"error": "model not found"}'
    not_found = b"HTTP/1.1 404 Not Found\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    async with engine(answering(not_found)) as client:
        with pytest.raises(ModelNotLoaded, match="model not found"):
            await events(client)


async def test_an_engine_that_hangs_up_mid_answer_is_unavailable() -> None:
    async with engine(answering(chunked(CHAT)[:120])) as client:
        with pytest.raises(BackendUnavailable):
            await events(client)


async def test_an_engine_that_is_not_listening_is_unavailable() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        with pytest.raises(BackendUnavailable, match="cannot reach"):
            await events(client)


async def test_https_engines_go_through_httpx() -> None:
    async with httpx.AsyncClient(base_url="https://engine.example") as client:
        assert not sse_http.usable(client)


async def test_engines_behind_a_proxy_go_through_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    async with httpx.AsyncClient(base_url="http://engine.example") as client:
        assert not sse_http.usable(client)
    async with httpx.AsyncClient(base_url="http://engine.example", trust_env=False) as client:
        assert sse_http.usable(client)


async def test_a_chunk_that_is_not_json_fails_the_job_as_the_engines_error() -> None:
    garbled = [CHAT[0], b'data: {"choices":[{"delta":{"content":"Hel\n\n', *CHAT[2:]]
    async with engine(answering(chunked(garbled))) as client:
        with pytest.raises(BackendError, match="not JSON"):
            await events(client)


async def test_tokens_that_arrive_apart_come_as_separate_events() -> None:
    """Grouping follows the engine's writes: a node that keeps up passes each token on
    as it comes, not held for the next."""
    consumed = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        body = chunked(CHAT)
        cut = body.index(b'data: {"choices":[{"delta":{"content":"lo"')
        cut = body.rindex(b"\r\n", 0, cut - 2) + 2  # before the second token's size line
        writer.write(body[:cut])
        await writer.drain()
        await consumed.wait()
        writer.write(body[cut:])
        await writer.drain()
        writer.close()

    async with engine(serve) as client:
        got: list[object] = []
        async for event in stream_chat(client, request()):
            got.append(event)
            consumed.set()
    assert got[:2] == [TokenDelta(("Hel",)), TokenDelta(("lo",))]
    assert isinstance(got[2], Finish)


async def test_crlf_line_ends_and_blank_lines_give_the_same_tokens() -> None:
    crlf = [part.replace(b"\n", b"\r\n") for part in CHAT]
    async with engine(answering(chunked(crlf))) as client:
        got = await events(client)
    assert pieces(got) == ["Hel", "lo"]
    assert isinstance(got[-1], Finish) and got[-1].usage.completion_tokens == 2


async def test_a_line_longer_than_the_limit_is_the_engines_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sse_http, "_MAX_LINE", 300)  # above the response's head
    endless = [b'data: {"choices":[{"delta":{"content":"' + b"x" * 100] * 5
    async with engine(answering(chunked(endless))) as client:
        with pytest.raises(BackendError, match="over-long line"):
            await events(client)


async def test_tokens_read_with_an_engine_error_go_first_then_the_error() -> None:
    """One read brings two tokens and the engine's error: the tokens are passed on
    before the error is raised, as they would have been one read apart."""
    failing = [*CHAT[1:3], b'data: {"error":{"message":"out of memory"}}\n\n']
    got: list[object] = []
    async with engine(answering(chunked(failing))) as client:
        with pytest.raises(BackendError, match="out of memory"):
            async for event in stream_chat(client, request()):
                got.append(event)
    assert got == [TokenDelta(("Hel", "lo"))]
