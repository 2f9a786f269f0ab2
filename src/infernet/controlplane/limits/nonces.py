"""The node-auth nonce cache of a control plane without Redis: memory, backed by its
database.

A nonce kept only in memory would be forgotten by a restart, and a request signed just
before a crash could then be replayed just after it (the clock-skew window is still
open). So memory answers (`MemoryNonceStore`: a single process is the only one that
checks), and each new nonce is in the database, with its expiry, before its request is
let through; the first check after a start loads the unexpired ones back. The
alternative, refusing after a start every timestamp that could carry a nonce seen
before it, would refuse every node for the whole skew window (a node's clock may run up
to `window_s` ahead), which is the outage this avoids.

Writes are grouped: the nonces of all requests that arrive while one transaction runs go
into the next one, so a burst of heartbeats costs a few commits, not one each.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import nonces as store
from infernet.controlplane.store.ids import utcnow
from infernet.protocol.signing import MemoryNonceStore

log = logging.getLogger("infernet.limits")


class DatabaseNonceStore:
    def __init__(self, db: AsyncEngine) -> None:
        self._db = db
        self._memory = MemoryNonceStore()
        self._loaded = asyncio.Lock()
        self._loaded_yet = False
        self._pending: list[tuple[tuple[str, datetime], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def seen_or_add(self, nonce: str, ttl: float) -> bool:
        if not self._loaded_yet:
            await self._load()
        if await self._memory.seen_or_add(nonce, ttl):
            return True
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(((nonce, utcnow() + timedelta(seconds=ttl)), written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="nonce-writer")
        await written  # the request goes on only once its nonce is stored
        return False

    async def _load(self) -> None:
        async with self._loaded:
            if self._loaded_yet:
                return
            now = utcnow()
            for key, expires in await store.unexpired(self._db):
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=now.tzinfo)
                await self._memory.seen_or_add(key, (expires - now).total_seconds())
            self._loaded_yet = True

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await store.keep(self._db, [row for row, _ in batch])
            except Exception as exc:  # those requests fail (500) rather than go unrecorded
                log.exception("nonce cache: could not write to the database")
                for _, written in batch:
                    if not written.done():
                        written.set_exception(exc)
                continue
            for _, written in batch:
                if not written.done():
                    written.set_result(None)
