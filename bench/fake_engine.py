"""A fast OpenAI-compatible engine with no model: the baseline for pure relay overhead.

It answers what our llama.cpp adapter and LiteLLM's proxy ask of an engine, shaped like
llama-server: `GET /health`, `GET /v1/models` and `POST /v1/chat/completions` (streamed
with one role chunk, `--chunks` content chunks, a finish chunk, a usage chunk when
`stream_options.include_usage` is set, then `[DONE]`; or one JSON answer). There is no
delay anywhere, so what a proxy in front of it adds is all that a client sees change.
Raw asyncio streams (no framework) keep the engine's own cost as low as possible.

Run: `python -m bench.fake_engine --port 9000 --chunks 32`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

MODEL = "fakellm-1b-instruct.gguf"
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _json_response(obj: object, status: str = "200 OK") -> bytes:
    body = json.dumps(obj).encode()
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def stream_events(chunks: int, include_usage: bool, prompt_tokens: int) -> list[bytes]:
    """The SSE events of one streamed answer, each already framed as an HTTP chunk."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def event(choices: list[object], **extra: object) -> bytes:
        obj = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": choices,
            **extra,
        }
        return _chunked(b"data: " + json.dumps(obj).encode() + b"\n\n")

    out = [event([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}])]
    out += [
        event([{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}])
        for i in range(chunks)
    ]
    out.append(event([{"index": 0, "delta": {}, "finish_reason": "length"}]))
    if include_usage:
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": chunks,
            "total_tokens": prompt_tokens + chunks,
        }
        out.append(event([], usage=usage))
    out.append(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    return out


def answer(chunks: int, prompt_tokens: int) -> dict[str, object]:
    text = "".join(f"tok{i} " for i in range(chunks))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "finish_reason": "length",
                "message": {"role": "assistant", "content": text},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": chunks,
            "total_tokens": prompt_tokens + chunks,
        },
    }


async def _chat(body: bytes, writer: asyncio.StreamWriter, chunks: int) -> None:
    request = json.loads(body or b"{}")
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
    if not request.get("stream"):
        writer.write(_json_response(answer(chunks, prompt_tokens)))
        return
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    writer.write(_STREAM_HEAD)
    for data in stream_events(chunks, include_usage, prompt_tokens):
        writer.write(data)  # TCP_NODELAY: each chunk leaves at once, as a real engine's would
        await writer.drain()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunks: int) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            path = path.split("?", 1)[0]
            if method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
                await _chat(body, writer, chunks)
            elif path in ("/v1/models", "/models"):
                entry = {"id": MODEL, "object": "model", "owned_by": "bench", "created": 0}
                writer.write(_json_response({"object": "list", "data": [entry]}))
            elif path == "/health":
                writer.write(_json_response({"status": "ok"}))
            else:
                writer.write(_json_response({"error": {"message": "not found"}}, "404 Not Found"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def serve(port: int, chunks: int) -> None:
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, chunks), "127.0.0.1", port, backlog=4096
    )
    print(json.dumps({"ready": True, "port": port}), flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.chunks))


if __name__ == "__main__":
    main()
