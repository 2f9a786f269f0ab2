"""The node daemon's API: registration, heartbeats and the job channel.

Every request is signed with the node key (`X-Infernet-Auth`); the WebSocket handshake
is signed the same way (method GET, empty body). Nodes connect out to us; we never
connect to them. A node with its channel open beats over it (`NodeBeat`): the same
apply and reply as `POST /api/v1/heartbeat`, without a request to parse or a signature
to check per beat.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.errors import Unauthorized
from infernet.controlplane.jobs.claims import malformed_failure
from infernet.controlplane.jobs.owner import NodeMessage
from infernet.controlplane.lanes import Lanes
from infernet.controlplane.nodes.auth import refused
from infernet.controlplane.nodes.heartbeat import known_node, receive_heartbeat, receive_hello
from infernet.controlplane.nodes.registration import register_node
from infernet.controlplane.nodes.registry import NodeState
from infernet.controlplane.services import Services
from infernet.protocol.signing import AuthError, request_target_from_scope
from infernet.protocol.wire import (
    NODE_CHANNEL_PATH,
    BeatReply,
    Heartbeat,
    HeartbeatResponse,
    JobAssignment,
    JobCancel,
    NodeBeat,
    NodeHello,
    RegisterRequest,
    RegisterResponse,
    from_node_adapter,
)

router = APIRouter(tags=["node"])
log = logging.getLogger("infernet.node_api")
BEATS = "beats"  # the lane of the channel's heartbeats (job lanes are named by job id)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def signed_by(request: Request) -> str:
    """The verified signer of this request (a 401 saying why not). Async and free of
    sub-dependencies on purpose: a sync dependency would cost a thread hop per request."""
    body = await request.body()
    target = request_target_from_scope(request.scope)
    try:
        return await _services(request).verifier.verify(
            request.headers, request.method, target, body
        )
    except AuthError as exc:
        raise refused(exc.code, f"Node signature rejected: {exc}") from exc


SignerDep = Annotated[str, Depends(signed_by)]


@router.post("/api/v1/node/register", response_model=RegisterResponse)
async def register(
    body: RegisterRequest, signer: SignerDep, services: ServicesDep
) -> RegisterResponse:
    if body.public_key != signer:
        raise Unauthorized("The body's public_key is not the key that signed the request.")
    reply = await register_node(services, body)
    await services.caches.node_changed(reply.node_id, "trust")  # account or user key may be new
    return reply


@router.post("/api/v1/heartbeat", response_model=HeartbeatResponse)
async def heartbeat(beat: Heartbeat, signer: SignerDep, request: Request) -> Response:
    """The node's liveness and state. The hot path of a large network (every node, every
    few seconds): with a warm cache it touches no database (identity, open commands) and
    the reply is serialized once, here, not validated again by `response_model`."""
    services = _services(request)
    reply = await receive_heartbeat(services, await known_node(services, signer), beat)
    return Response(reply.model_dump_json(), media_type="application/json")


class WebSocketChannel:
    def __init__(self, socket: WebSocket, signer: str) -> None:
        self._socket = socket
        self.signer = signer  # the key that signed its handshake

    async def send(self, message: JobAssignment | JobCancel | BeatReply) -> None:
        await self._socket.send_text(message.model_dump_json())

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError):  # closed already (by either side)
            await self._socket.close(code=code, reason=reason[:120])


async def _frames(socket: WebSocket) -> AsyncIterator[str]:
    """The channel's frames as text: a binary frame is read as UTF-8 (one that is not is
    dropped); the node's bad frame never closes its channel."""
    while True:
        frame = await socket.receive()
        if frame["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(frame.get("code", 1000))
        if frame.get("text") is not None:
            yield frame["text"]
        elif frame.get("bytes") is not None:
            try:
                yield frame["bytes"].decode()
            except UnicodeDecodeError:
                log.warning("binary frame that is not UTF-8 from node, dropped")


async def _relay(
    services: Services, node: NodeState, socket: WebSocket, channel: WebSocketChannel
) -> None:
    """Apply the channel's messages: each job's in order, jobs side by side (lanes.py)."""
    lanes = Lanes(lambda _exc: channel.close(1011, "a message from this node failed to apply"))
    try:
        await _read(services, node, socket, channel, lanes)
    finally:
        await lanes.drain()  # every message read is applied before the close is acted on


async def _read(
    services: Services,
    node: NodeState,
    socket: WebSocket,
    channel: WebSocketChannel,
    lanes: Lanes,
) -> None:
    async for text in _frames(socket):
        try:
            message: NodeMessage | NodeHello | NodeBeat = from_node_adapter.validate_json(text)
        except ValidationError as exc:
            log.warning("malformed message from node", extra={"node_id": node.node_id})
            failure = malformed_failure(text, exc)  # the attempt it names ends (claims.py)
            if failure is None:
                continue
            message = failure
        if isinstance(message, NodeBeat):
            await lanes.add(BEATS, partial(_beat, services, node, message, channel))
        elif isinstance(message, NodeHello):  # what the node runs: after all it said before
            await lanes.drain()
            await receive_hello(services, node, message)
        else:
            receive = partial(services.jobs.receive, node.node_id, message)
            await lanes.add(message.job_id, receive)


async def _beat(
    services: Services, node: NodeState, beat: NodeBeat, channel: WebSocketChannel
) -> None:
    """A heartbeat over the channel: no HTTP request and no signature to check (the
    handshake was signed), yet the key's trust is read again, from the identity cache,
    as for an HTTP beat: a key revoked or rotated since the handshake closes the channel."""
    try:
        node = await known_node(services, channel.signer)
    except Unauthorized as exc:
        await channel.close(4401, exc.message)
        return
    try:
        reply = await receive_heartbeat(services, node, beat.heartbeat)
    except Exception:  # Redis or the database away: the beat fails, never the channel
        # (closing it would lose the attempts' messages in flight on it). Unanswered, the
        # node beats over signed HTTP on this channel, as to a control plane without beats.
        log.exception("heartbeat over the job channel failed", extra={"node_id": node.node_id})
        return
    await channel.send(BeatReply(reply=reply))


@router.websocket(NODE_CHANNEL_PATH)
async def job_channel(socket: WebSocket) -> None:
    services: Services = socket.app.state.services
    target = request_target_from_scope(socket.scope)
    try:
        signer = await services.verifier.verify(socket.headers, "GET", target, b"")
    except AuthError as exc:  # accepted, then closed: a refused handshake carries no reason
        await socket.accept()
        await socket.close(code=4401, reason=f"{exc.code}: {exc}"[:120])
        return
    try:
        node = await known_node(services, signer)
    except Unauthorized as exc:  # unknown_key, revoked, rotated
        await socket.accept()
        await socket.close(code=4401, reason=exc.message[:120])
        return
    await socket.accept()
    channel = WebSocketChannel(socket, signer)
    node.channel = channel
    log.info("job channel open", extra={"node_id": node.node_id})
    await services.jobs.channel_opened(node.node_id)
    try:
        await _relay(services, node, socket, channel)
    except WebSocketDisconnect:
        pass
    finally:
        if node.channel is channel:
            node.channel = None
            log.info("job channel closed", extra={"node_id": node.node_id})
            await services.jobs.channel_closed(node.node_id)
