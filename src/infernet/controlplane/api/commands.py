"""The node command queue over HTTP (Book 3.3; the dashboard's Manage Models uses it too).

- `POST /api/v1/nodes/{node_id}/commands` `{"type": "model_install"|"model_remove",
  "model": NAME}` queues a command for the node (201, the command with status `pending`).
- `GET /api/v1/nodes/{node_id}/commands` lists the node's commands, newest first.
- `GET /api/v1/commands/{id}` shows one: `pending` → `running` → `done` | `failed` (with
  the node's reason in `error`).
- `POST /api/v1/node/commands/{id}/ack` is the node's report, signed with its key like
  every node request; a node can only ack its own commands.

The node receives open commands in its heartbeat responses (`api/node.py`).

Who may queue, list and read a node's commands: its owner, a platform admin, or the
node itself with a signed request (api/ownership.py); a node no account owns takes
commands from itself alone.
"""

from __future__ import annotations

from fastapi import APIRouter

from infernet.controlplane.api.callers import PartyDep
from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.api.node import SignerDep
from infernet.controlplane.api.ownership import managed_node
from infernet.controlplane.errors import NotFound, Unauthorized
from infernet.controlplane.nodes.heartbeat import known_node
from infernet.controlplane.schemas.commands import CommandCreate, CommandList, CommandPublic
from infernet.controlplane.store import commands as command_store
from infernet.protocol.wire import CommandAck

router = APIRouter(tags=["commands"])


@router.post("/api/v1/nodes/{node_id}/commands", response_model=CommandPublic, status_code=201)
async def queue_command(
    node_id: str, body: CommandCreate, who: PartyDep, services: ServicesDep
) -> CommandPublic:
    row = await managed_node(services, node_id, who)
    if row["revoked"]:
        raise NotFound(f"Node {node_id} is revoked: it takes no commands.")
    command = await command_store.queue_command(
        services.db,
        node_id=node_id,
        account_id=who.account_id,
        type=body.type,
        model=body.model.strip(),
    )
    await services.caches.node_changed(node_id, "commands")  # its next heartbeat carries it
    return CommandPublic.from_row(command)


@router.get("/api/v1/nodes/{node_id}/commands", response_model=CommandList)
async def list_commands(node_id: str, who: PartyDep, services: ServicesDep) -> CommandList:
    await managed_node(services, node_id, who)
    rows = await command_store.commands_for_node(services.db, node_id)
    return CommandList(commands=[CommandPublic.from_row(row) for row in rows])


@router.get("/api/v1/commands/{command_id}", response_model=CommandPublic)
async def get_command(command_id: str, who: PartyDep, services: ServicesDep) -> CommandPublic:
    row = await command_store.get_command(services.db, command_id)
    if row is None:
        raise NotFound(f"No command {command_id}.")
    try:
        await managed_node(services, row["node_id"], who)
    except NotFound as exc:
        raise NotFound(f"No command {command_id}.") from exc
    return CommandPublic.from_row(row)


@router.post("/api/v1/node/commands/{command_id}/ack", response_model=CommandPublic)
async def ack_command(
    command_id: str, ack: CommandAck, signer: SignerDep, services: ServicesDep
) -> CommandPublic:
    node = await known_node(services, signer)
    if node is None:
        raise Unauthorized("Unknown node key: run `infernet register` first.")
    row = await command_store.get_command(services.db, command_id)
    if row is None or row["node_id"] != node.node_id:
        raise NotFound(f"No command {command_id} for this node.")
    error = (ack.error or "the node gave no reason") if ack.status == "failed" else None
    await command_store.record_ack(services.db, command_id, ack.status, error)
    updated = await command_store.get_command(services.db, command_id)
    assert updated is not None
    return CommandPublic.from_row(updated)
