"""A test harness (control plane + scripted node) running in a thread of its own, so
blocking clients (schemathesis's `requests`, raw sockets) can talk to it from the test."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from infernet.controlplane.settings import Settings
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

T = TypeVar("T")


class ThreadedHarness:
    def __init__(self, home: Path, settings: Settings | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.harness = Harness(home, settings)

    def run(self, coro: Coroutine[object, object, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return self.harness.url

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.harness.api_key}"}

    def close(self) -> None:
        try:
            self.run(self.harness.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


@contextmanager
def threaded(
    home: Path, settings: Settings | None = None, models: tuple[str, ...] = ("m:1b",)
) -> Iterator[ThreadedHarness]:
    """A started harness with one scripted node serving `models`."""
    net = ThreadedHarness(home, settings)
    try:
        net.run(net.harness.start())
        net.run(net.harness.add_node(ScriptedBackend(list(models), tokens=["a", " b"])))
        yield net
    finally:
        net.close()
