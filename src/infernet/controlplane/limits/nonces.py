"""The node-auth nonce cache of a control plane without Redis: its database.

A nonce kept only in memory would be forgotten by a restart, and a request signed just
before a crash could then be replayed just after it (the clock-skew window is still
open). So every nonce is in the database before its request is let through. The
alternative, refusing after a restart every timestamp that could carry a nonce seen
before it, would refuse every node for the whole skew window (a node's clock may run up
to `window_s` ahead), which is the outage this avoids.

Writes are grouped: the nonces of all requests that arrive while one transaction runs go
into the next one, so a burst of heartbeats costs a few commits, not one each.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import nonces as store

log = logging.getLogger("infernet.limits")


class DatabaseNonceStore:
    def __init__(self, db: AsyncEngine) -> None:
        self._db = db
        self._waiting: dict[tuple[str, float], list[asyncio.Future[bool]]] = {}
        self._writer: asyncio.Task[None] | None = None

    async def seen_or_add(self, nonce: str, ttl: float) -> bool:
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((nonce, ttl), []).append(answer)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="nonce-writer")
        return await answer

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            by_ttl: dict[float, list[str]] = {}
            for nonce, ttl in batch:
                by_ttl.setdefault(ttl, []).append(nonce)
            try:
                seen = set[str]()
                for ttl, nonces in by_ttl.items():
                    seen |= await store.record(self._db, nonces, ttl)
            except Exception as exc:  # the requests fail (500) rather than go unchecked
                log.exception("nonce cache: could not write to the database")
                for answers in batch.values():
                    for answer in answers:
                        if not answer.done():
                            answer.set_exception(exc)
                continue
            for (nonce, _), answers in batch.items():
                # The same nonce twice in one batch: the first is new, the rest replays.
                for index, answer in enumerate(answers):
                    if not answer.done():
                        answer.set_result(nonce in seen or index > 0)
