"""Messages that travel between control-plane replicas over the bus.

Each is a pydantic model with a `kind` tag so one adapter parses them all at the edge.
Broadcasts (every replica applies them): `HeartbeatSeen`, `ChannelMoved`, `SlotsChanged`,
`NodeChanged`, `KeyRevoked`.
Directed (to the replica holding a node's channel, or the replica owning a job): `Assign`,
`CancelOnNode`, `FromNode`, `Undeliverable`.
A receiving replica applies one job's, node's or key's events in order (`lane`), and
different ones side by side.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from infernet.protocol.wire import (
    Heartbeat,
    JobAssignment,
    JobCancel,
    JobDone,
    JobFailed,
    JobToken,
    JobTokens,
)


class HeartbeatSeen(BaseModel):
    """A node's heartbeat as one replica received it; `seen_at` is that replica's wall
    clock, so every replica agrees on when the node was last heard from."""

    kind: Literal["heartbeat"] = "heartbeat"
    node_id: str
    public_key: str
    approved: bool = True
    seen_at: float
    beat: Heartbeat


class ChannelMoved(BaseModel):
    """A node's job channel opened at `replica_id`, or closed there (`open` False)."""

    kind: Literal["channel"] = "channel"
    node_id: str
    replica_id: str
    open: bool


class SlotsChanged(BaseModel):
    """The jobs holding a node's slots now, cluster-wide. On Redis it is written by the
    slot scripts themselves (bus/redis.py, `TELL`): keep its JSON there in step."""

    kind: Literal["slots"] = "slots"
    node_id: str
    jobs: list[str]


class NodeChanged(BaseModel):
    """What a replica caches about a node changed in the database: its trust (approval,
    revocation, key rotation, registration) or its open commands (one was queued).
    Every replica drops that cache entry (controlplane/nodes/cache.py)."""

    kind: Literal["node_changed"] = "node_changed"
    node_id: str
    what: Literal["trust", "commands"]


class KeyRevoked(BaseModel):
    """A client API key was revoked in the database: every replica drops it from its
    `KeyCache` (store/accounts.py), so the next request with it is refused."""

    kind: Literal["key_revoked"] = "key_revoked"
    key_id: str


class Assign(BaseModel):
    """Forward this assignment down the node's channel; `owner` runs the job."""

    kind: Literal["assign"] = "assign"
    owner: str
    node_id: str
    assignment: JobAssignment


class CancelOnNode(BaseModel):
    kind: Literal["cancel"] = "cancel"
    node_id: str
    cancel: JobCancel


class FromNode(BaseModel):
    """A node's message for a job owned by the receiving replica."""

    kind: Literal["from_node"] = "from_node"
    node_id: str
    message: Annotated[JobToken | JobTokens | JobDone | JobFailed, Field(discriminator="type")]


class Undeliverable(BaseModel):
    """The assignment could not be sent: the node's channel is not (or no longer) here."""

    kind: Literal["undeliverable"] = "undeliverable"
    node_id: str
    job_id: str
    attempt: int


AnyEvent = (
    HeartbeatSeen
    | ChannelMoved
    | SlotsChanged
    | NodeChanged
    | KeyRevoked
    | Assign
    | CancelOnNode
    | FromNode
    | Undeliverable
)
BusEvent = Annotated[AnyEvent, Field(discriminator="kind")]
bus_event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(BusEvent)


def lane(event: AnyEvent) -> str:
    """What a receiving replica keeps in order (controlplane/lanes.py): one job's events
    (its assignment, cancel, the node's messages, in the order sent), one node's, one
    key's. Events of different lanes are applied side by side."""
    if isinstance(event, Assign):
        return f"job:{event.assignment.job_id}"
    if isinstance(event, CancelOnNode):
        return f"job:{event.cancel.job_id}"
    if isinstance(event, FromNode):
        return f"job:{event.message.job_id}"
    if isinstance(event, Undeliverable):
        return f"job:{event.job_id}"
    if isinstance(event, KeyRevoked):
        return f"key:{event.key_id}"
    return f"node:{event.node_id}"
