"""The `/v1` generation lane below FastAPI (api/openai_lane.py): it answers what the
declared routes would, in the same envelopes and with the same labels, and writes a
stream without a task group. (Everything else about `/v1` is in test_openai.py,
test_bad_input.py and tests/security, which go through the lane too.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.responses import StreamingResponse
from starlette.types import Message

from infernet.controlplane.api.openai_lane import write_stream
from infernet.controlplane.jobs.openai_sse import LastEvents
from tests.controlplane.web.test_metrics import scrape, value
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend

QUESTION = [{"role": "user", "content": "capital of France?"}]


async def test_lane_requests_are_counted_under_their_declared_route(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        await harness.add_node(ScriptedBackend(["m:1b"]))
        async with harness.client() as api:
            body = {"model": "m:1b", "messages": QUESTION, "stream": True}
            assert "[DONE]" in (await api.post("/v1/chat/completions", json=body)).text
            assert (await api.post("/v1/chat/completions", json={"model": 1})).status_code == 400
            no_key = await api.post("/v1/completions", json={}, headers={"Authorization": ""})
            assert no_key.status_code == 401
        found = await scrape(harness)
    route = "/v1/chat/completions"
    assert value(found, "infernet_http_requests_total", method="POST", route=route, status="200")
    assert value(found, "infernet_http_requests_total", method="POST", route=route, status="400")
    counted = {"method": "POST", "route": "/v1/completions", "status": "401"}
    assert value(found, "infernet_http_requests_total", **counted) == 1


@pytest.mark.parametrize(
    ("content", "content_type", "says"),
    [
        (b"", "application/json", "body: Field required"),
        (b'{"model": ', "application/json", "body: not valid JSON"),
        (b'{"model": "m:1b"}', "text/plain", "body: Input should be a valid dictionary"),
        (b"\xff\xfe\xfa", "application/json", "send a JSON object"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_an_openai_400(
    harness: Harness, content: bytes, content_type: str, says: str
) -> None:
    async with harness.client() as api:
        answer = await api.post(
            "/v1/chat/completions", content=content, headers={"Content-Type": content_type}
        )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "bad_request"
    assert says in error["message"]


async def test_the_rate_limit_headers_ride_on_lane_answers(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    async with harness.client() as api:
        answer = await api.post(
            "/v1/chat/completions", json={"model": "m:1b", "messages": QUESTION}
        )
    assert answer.status_code == 200 and answer.headers["X-Infernet-Job-Id"]
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["X-RateLimit-Remaining"]) >= 0


class Client:
    """An ASGI client's side: the request body once, then (when told) the disconnect."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.leave = asyncio.Event()
        self._asked = 0

    async def receive(self) -> Message:
        self._asked += 1
        if self._asked == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


async def test_a_stream_is_written_as_it_comes_and_then_closed() -> None:
    client = Client()

    async def events() -> AsyncIterator[str]:
        yield "data: 1\n\n"
        yield "data: 2\n\n"

    await write_stream(StreamingResponse(events()), client.receive, client.send)
    assert client.sent[0]["type"] == "http.response.start"
    assert client.bodies() == [b"data: 1\n\n", b"data: 2\n\n", b""]


async def test_a_streams_last_events_end_the_response_in_the_same_message() -> None:
    client = Client()

    async def events() -> AsyncIterator[str]:
        yield "data: 1\n\n"
        yield LastEvents("data: 2\n\ndata: [DONE]\n\n")

    await write_stream(StreamingResponse(events()), client.receive, client.send)
    assert [(m["body"], m["more_body"]) for m in client.sent[1:]] == [
        (b"data: 1\n\n", True),
        (b"data: 2\n\ndata: [DONE]\n\n", False),
    ]


async def test_a_client_that_leaves_stops_its_stream_without_an_error() -> None:
    client, closed = Client(), asyncio.Event()

    async def events() -> AsyncIterator[str]:
        try:
            yield "data: 1\n\n"
            await asyncio.Event().wait()  # a job that has nothing more for a while
            yield "data: never\n\n"
        finally:
            closed.set()

    writing = asyncio.create_task(
        write_stream(StreamingResponse(events()), client.receive, client.send)
    )
    await asyncio.sleep(0.01)
    client.leave.set()
    await asyncio.wait_for(writing, 1.0)  # returns: leaving is not an error
    assert closed.is_set() and client.bodies() == [b"data: 1\n\n"]


async def test_a_server_stopping_still_cancels_a_stream() -> None:
    client = Client()

    async def events() -> AsyncIterator[str]:
        yield "data: 1\n\n"
        await asyncio.Event().wait()
        yield "data: never\n\n"

    writing = asyncio.create_task(
        write_stream(StreamingResponse(events()), client.receive, client.send)
    )
    await asyncio.sleep(0.01)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
