"""This replica's part in a cluster of control planes sharing a bus (bus/).

What crosses replicas goes through here: heartbeats received here are published to all
(with the receiving replica's clock, so every replica agrees on a node's last beat) and
saved as the node's hot state; which replica holds each node's job channel; slot
reservations (atomic in the bus, so two replicas never overbook a node); assignments for
a node connected elsewhere (a `RemoteChannel` sends them to that replica, which forwards
them down its socket); and the node's messages for a job another replica owns (sent to
the owner, who checks the attempt and bills, exactly once).

A node holds one job channel. When it opens a new one here while this replica still
holds an older one for it (it reconnected before this replica noticed the old socket
close), the old socket is closed and every attempt sent through it is taken back at
once: this replica's own, and, with a message to their owners, those it forwarded for
other replicas (each named by its attempt, so an attempt sent through the new socket is
never taken back). Otherwise they would wait for the stall timeout.

With the in-process bus (one control plane) every method is the old local step or nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Literal, Protocol, runtime_checkable

from redis.exceptions import RedisError

from infernet.controlplane.bus.base import Bus
from infernet.controlplane.bus.events import (
    Assign,
    BusEvent,
    CancelOnNode,
    ChannelMoved,
    FromNode,
    HeartbeatSeen,
    KeyRevoked,
    NodeChanged,
    SlotsChanged,
    Undeliverable,
)
from infernet.controlplane.jobs.mirror import Mirror, MirrorWriter
from infernet.controlplane.jobs.owner import JobOwner, NodeMessage
from infernet.controlplane.jobs.streams import JobStream, Keeper
from infernet.controlplane.nodes.registry import ChannelElsewhere, NodeRegistry, NodeState
from infernet.protocol.wire import Heartbeat, JobAssignment, JobCancel, JobToken, JobTokens

log = logging.getLogger("infernet.cluster")


class Caches(Protocol):
    """This replica's caches that bus events invalidate (nodes/cache.py)."""

    def forget(self, node_id: str | None) -> None: ...
    def forget_key(self, key_id: str | None) -> None: ...
    async def node_changed(self, node_id: str, what: Literal["trust", "commands"]) -> None: ...


@runtime_checkable
class Closable(Protocol):
    async def close(self, code: int, reason: str) -> None: ...


SUPERSEDED = 4000  # the close code telling a node its old channel was replaced
RELEASE_RETRY_S = 0.5  # between tries of a slot release the shared slot book failed


class RemoteChannel(ChannelElsewhere):
    """A node's job channel held by another replica."""

    def __init__(self, cluster: Cluster, replica_id: str, node_id: str) -> None:
        self.cluster, self.replica_id, self.node_id = cluster, replica_id, node_id

    async def send(self, message: JobAssignment | JobCancel) -> None:
        bus = self.cluster.bus
        if isinstance(message, JobAssignment):
            self.cluster.via[message.job_id] = self.replica_id
            event: BusEvent = Assign(owner=bus.replica_id, node_id=self.node_id, assignment=message)
        else:
            event = CancelOnNode(node_id=self.node_id, cancel=message)
        await bus.send(self.replica_id, event)


class Cluster:
    def __init__(
        self,
        bus: Bus,
        registry: NodeRegistry,
        owner: JobOwner,
        caches: Caches,
        keeper: Keeper | None = None,
    ) -> None:
        self.bus, self._registry, self._owner, self._caches = bus, registry, owner, caches
        self.keeper = keeper  # stores streams without a shared bus (jobs/journal.py)
        self.mirrors = MirrorWriter(bus.tokens)  # copies them into it with one (mirror.py)
        self.forwarded: dict[str, str] = {}  # job id -> owner, for assignments we forwarded
        self.via: dict[str, str] = {}  # job id -> replica its current attempt went through
        # The local channel each node's messages come through, and for each assignment we
        # forwarded: (node, the channel it went down, its attempt).
        self._sockets: dict[str, object] = {}
        self._through: dict[str, tuple[str, object, int]] = {}
        self._releasing: set[asyncio.Task[None]] = set()  # releases Redis failed, retried

    @property
    def shared(self) -> bool:
        return self.bus.shared

    async def start(self) -> None:
        await self.bus.start(self.handle, self.resync)

    async def stop(self) -> None:
        for retry in list(self._releasing):
            retry.cancel()
        await self.mirrors.close()
        await self.bus.stop()
        if self.keeper is not None:
            await self.keeper.close()

    def new_stream(self, job_id: str, already: list[str] | None = None) -> JobStream:
        """A stream for `job_id`, mirrored to the bus (several replicas) or stored by the
        keeper; `already`: the pieces stored before (a job taken over or recovered)."""
        pieces = already or []
        if self.shared:
            stream = JobStream(Mirror(self.mirrors, job_id, len(pieces)), job_id=job_id)
        else:
            stream = JobStream(keeper=self.keeper, job_id=job_id)
        stream.pieces, stream.kept = list(pieces), len(pieces)
        return stream

    async def reserve(self, node: NodeState, job_id: str) -> bool:
        """Take one of `node`'s slots for `job_id`; False when another replica took the
        last one, or when the shared slot book failed (Redis restarting): the job waits
        for the next dispatch pass either way, and is never dropped from the queue."""
        if not self.shared:
            node.active_jobs.add(job_id)  # no await before this: no double booking
            return True
        try:
            taken, held = await self.bus.slots.reserve(node.node_id, job_id, node.max_concurrent)
        except (RedisError, OSError) as exc:
            log.warning("slot not reserved; the job waits", extra={"error": str(exc)})
            return False
        node.active_jobs = set(held)  # the others hear it from the slot book
        return taken

    async def release(self, node_id: str, job_id: str) -> None:
        """Free the job's slot. When the shared slot book fails (Redis restarting) the
        release is tried again in the background: the job's end (its settlement, its
        stream's end) does not wait for Redis, and the slot is not left taken."""
        self.via.pop(job_id, None)
        if not self.shared:
            return
        try:
            await self._release(node_id, job_id)
        except (RedisError, OSError) as exc:
            log.warning("slot not released yet; retrying", extra={"error": str(exc)})
            retry = asyncio.create_task(self._release_later(node_id, job_id))
            self._releasing.add(retry)
            retry.add_done_callback(self._releasing.discard)

    async def _release(self, node_id: str, job_id: str) -> None:
        held = await self.bus.slots.release(node_id, job_id)
        if node := self._registry.get(node_id):
            node.active_jobs = set(held)

    async def _release_later(self, node_id: str, job_id: str) -> None:
        while True:
            await asyncio.sleep(RELEASE_RETRY_S)
            with contextlib.suppress(RedisError, OSError):
                return await self._release(node_id, job_id)

    def passes_through(self, job_id: str) -> bool:
        """Another replica's job whose assignment this replica forwarded to its node."""
        return job_id in self._through

    async def heartbeat(self, node: NodeState, beat: Heartbeat) -> None:
        if self.shared:
            seen = HeartbeatSeen(
                node_id=node.node_id,
                public_key=node.public_key,
                approved=node.approved,
                seen_at=time.time(),
                beat=beat,
            )
            await self.bus.publish_node(seen)

    async def channel_opened(self, node_id: str) -> None:
        node = self._registry.get(node_id)
        if node is not None and node.channel_here:
            old = self._sockets.get(node_id)
            self._sockets[node_id] = node.channel
            if old is not None and old is not node.channel:
                await self._superseded(node_id, old)
        if self.shared:
            await self.bus.channels.claim(node_id, self.bus.replica_id)
            event = ChannelMoved(node_id=node_id, replica_id=self.bus.replica_id, open=True)
            await self.bus.broadcast(event)  # others see it in _channel_moved; we here:
            lost = {j for j, r in self.via.items() if r != self.bus.replica_id}
            await self._owner.node_lost(node_id, only=lost)

    async def _superseded(self, node_id: str, old: object) -> None:
        """The node opened a new channel here while the old one still looked open: every
        attempt sent through the old one is lost (see the module docstring)."""
        # Before any await: attempts dispatched from now on go down the new channel.
        mine = {j.id for j in self._owner.unfinished() if j.node_id == node_id}
        theirs = [(j, a) for j, (n, c, a) in self._through.items() if n == node_id and c is old]
        log.warning("node reopened its job channel: old one closed", extra={"node_id": node_id})
        if isinstance(old, Closable):
            try:
                await old.close(SUPERSEDED, "replaced by a newer channel from this node")
            except Exception:  # already broken: nothing more to close
                log.debug("old channel already closed", extra={"node_id": node_id})
        for job_id, attempt in theirs:
            self._through.pop(job_id, None)
            owner = self.forwarded.pop(job_id, None)
            if owner is not None:
                lost = Undeliverable(node_id=node_id, job_id=job_id, attempt=attempt)
                await self.bus.send(owner, lost)
        await self._owner.node_lost(node_id, only=mine)

    async def channel_closed(self, node_id: str) -> None:
        self._sockets.pop(node_id, None)
        for job_id in [j for j, (n, _, _) in self._through.items() if n == node_id]:
            del self._through[job_id]
        if self.shared:
            await self.bus.channels.release(node_id, self.bus.replica_id)
            event = ChannelMoved(node_id=node_id, replica_id=self.bus.replica_id, open=False)
            await self.bus.broadcast(event)

    async def forward(self, node_id: str, message: NodeMessage) -> bool:
        """Send a node's message to the replica owning its job; False: handle it here."""
        if not self.shared or self._owner.live(message.job_id) is not None:
            return False
        owner = self.forwarded.get(message.job_id)
        if owner is None or owner == self.bus.replica_id:
            return False
        if not isinstance(message, JobToken | JobTokens):
            self.forwarded.pop(message.job_id, None)
            self._through.pop(message.job_id, None)
        await self.bus.send(owner, FromNode(node_id=node_id, message=message))
        return True

    async def handle(self, event: BusEvent) -> None:
        if isinstance(event, HeartbeatSeen):
            self._apply_heartbeat(event)
            await self._owner.dispatch_waiting()
        elif isinstance(event, ChannelMoved):
            await self._channel_moved(event)
        elif isinstance(event, SlotsChanged):
            if node := self._registry.get(event.node_id):
                node.active_jobs = set(event.jobs)
        elif isinstance(event, NodeChanged):
            self._caches.forget(event.node_id)
        elif isinstance(event, KeyRevoked):
            self._caches.forget_key(event.key_id)
        elif isinstance(event, Assign):
            await self._deliver(event)
        elif isinstance(event, CancelOnNode):
            node = self._registry.get(event.node_id)
            if node is not None and node.channel is not None and node.channel_here:
                await node.channel.send(event.cancel)
        elif isinstance(event, FromNode):
            await self._owner.apply(event.node_id, event.message)
        else:
            await self._owner.undeliverable(event.node_id, event.job_id, event.attempt)

    def _apply_heartbeat(self, seen: HeartbeatSeen) -> None:
        node = self._registry.ensure(seen.node_id, seen.public_key)
        node.approved = seen.approved
        self._registry.apply_heartbeat(node, seen.beat, seen_at=seen.seen_at)

    async def _deliver(self, event: Assign) -> None:
        node = self._registry.get(event.node_id)
        job = event.assignment
        if node is None or node.channel is None or not node.channel_here:
            await self.bus.send(
                event.owner,
                Undeliverable(node_id=event.node_id, job_id=job.job_id, attempt=job.attempt),
            )
            return
        self.forwarded[job.job_id] = event.owner
        self._through[job.job_id] = (event.node_id, node.channel, job.attempt)
        try:
            await node.channel.send(job)
        except Exception:  # the socket broke: the owner routes the job elsewhere
            log.warning("forwarding job to node failed", extra={"job_id": job.job_id})
            undeliverable = Undeliverable(
                node_id=event.node_id, job_id=job.job_id, attempt=job.attempt
            )
            await self.bus.send(event.owner, undeliverable)

    async def _channel_moved(self, event: ChannelMoved) -> None:
        try:  # the map, not the event, says where it is now: events of two replicas cross
            where = await self.bus.channels.where(event.node_id)
        except (RedisError, OSError) as exc:
            # Redis away mid-event: the event's word, rather than dropping it and routing
            # by a stale channel until the next resync (sent there, answered undeliverable).
            log.warning("channel map unread; the event's word taken", extra={"error": str(exc)})
            where = event.replica_id if event.open else self._elsewhere(event)
        await self._refresh_channel(event.node_id, where)
        if not event.open:  # take back our jobs that went through that socket
            lost = {j for j, r in self.via.items() if r == event.replica_id}
            await self._owner.node_lost(event.node_id, only=lost)
        elif where == event.replica_id:
            # A node holds one channel: now that it opened one there, attempts we sent
            # through another replica's socket to it are lost, even if that replica died
            # without saying its socket closed (its node messages reach no one).
            lost = {j for j, r in self.via.items() if r != where}
            await self._owner.node_lost(event.node_id, only=lost)
        await self._owner.dispatch_waiting()

    def _elsewhere(self, closed: ChannelMoved) -> str | None:
        """The replica thought to hold the node's channel, unless it is the one that
        `closed` says closed it (a close heard after the node's next open keeps that)."""
        node = self._registry.get(closed.node_id)
        channel = node.channel if node is not None else None
        held = channel.replica_id if isinstance(channel, RemoteChannel) else None
        return held if held != closed.replica_id else None

    async def _refresh_channel(self, node_id: str, replica_id: str | None) -> None:
        node = self._registry.get(node_id)
        if node is None or node.channel_here:
            return
        if replica_id is None or replica_id == self.bus.replica_id:
            node.channel = None
        else:
            node.channel = RemoteChannel(self, replica_id, node_id)

    async def resync(self) -> None:
        """Catch up after (re)connecting: nodes' last beats, channel locations, and any
        job stream entries the bus lost (a Redis restart)."""
        self._caches.forget(None)  # a missed NodeChanged must not leave a stale cache
        self._caches.forget_key(None)  # nor a missed KeyRevoked
        for seen in await self.bus.load_nodes():
            self._apply_heartbeat(seen)
        where = await self.bus.channels.all()
        for node in self._registry.all():
            await self._refresh_channel(node.node_id, where.get(node.node_id))
            if node.channel_here:
                await self.channel_opened(node.node_id)
        await self._owner.resync_streams()
