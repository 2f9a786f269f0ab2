"""In-process publish/subscribe: an asyncio fan-out of small events to live pages.

The dashboard's SSE endpoints subscribe to topics (`nodes`, `node:<id>`, `jobs`, ...) and
re-render when something they show changes, instead of polling the database in a tight
loop. Publishing never blocks and never fails: a subscriber whose queue is full loses its
oldest event (it re-reads the state it shows, so a lost event only costs freshness). The
latest payload of each topic is retained, like an MQTT retained message, so a page that
opens later still sees e.g. a node's last reported GPUs.

One hub per control-plane process; replicas would need a shared bus (Redis pub/sub).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

QUEUE_SIZE = 64


@dataclass(frozen=True, slots=True)
class Event:
    topic: str
    payload: object


@dataclass(eq=False)  # hashed by identity: it lives in the hub's sets
class Subscription:
    """A subscriber's queue; `next` waits for the next event or the timeout."""

    topics: frozenset[str]
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    async def next(self, timeout: float | None = None) -> Event | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def offer(self, event: Event) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(event)


class EventHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._retained: dict[str, object] = {}

    def publish(self, topic: str, payload: object = None) -> None:
        self._retained[topic] = payload
        event = Event(topic, payload)
        for subscription in list(self._subscribers.get(topic, ())):
            subscription.offer(event)

    def retained(self, topic: str) -> object:
        """The last payload published on `topic`, or None."""
        return self._retained.get(topic)

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(frozenset(topics))
        for topic in topics:
            self._subscribers[topic].add(subscription)
        try:
            yield subscription
        finally:
            for topic in topics:
                self._subscribers[topic].discard(subscription)
                if not self._subscribers[topic]:
                    del self._subscribers[topic]
