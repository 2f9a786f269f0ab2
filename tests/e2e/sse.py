"""A strict reader of the Book's SSE stream, as a client would parse it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx


@dataclass
class SseResult:
    texts: list[str] = field(default_factory=list)
    done: bool = False
    error: dict[str, str] | None = None
    comments: int = 0

    @property
    def text(self) -> str:
        return "".join(self.texts)


async def read_sse(response: httpx.Response) -> SseResult:
    result = SseResult()
    async for line in response.aiter_lines():
        if line.startswith(":"):
            result.comments += 1
        elif line.startswith("data: "):
            assert not result.done and result.error is None, "an event came after the end"
            data = line[6:]
            if data == "[DONE]":
                result.done = True
                continue
            event = json.loads(data)
            if "error" in event:
                result.error = event
            else:
                result.texts.append(event["text"])
    return result
