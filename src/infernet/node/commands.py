"""Executing the commands the control plane queues for this node (Book 3.3).

Commands arrive in heartbeat responses (`HeartbeatResponse.commands`) and keep arriving
until the node acknowledges them `done` or `failed`, so the same command is usually seen
several times. Each id runs at most once: a command already running is ignored, and one
already finished is not run again; its recorded outcome is acknowledged again instead (the
first ack may have been lost). Finished ids and their outcomes are kept in
`commands.json` next to the config (the last 500), so a restarted daemon does not
reinstall what it installed before it went down; a command that was running when the
daemon died is not in that ledger and runs again when it is redelivered.

`model_install` and `model_remove` go through `node.models.ModelManager`, the same path as
`infernet model install/remove` (names are translated to this backend's scheme, since the
dashboard does not know it; the VRAM fit is checked, with no override). Each command is
acknowledged `running` when it starts and `done` or `failed` (with the reason) at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from infernet.backends.base import PullProgress
from infernet.backends.errors import BackendError
from infernet.node.client import ControlPlaneError
from infernet.node.config import ConfigError, write_atomic
from infernet.node.models import ModelError, ModelManager
from infernet.protocol.wire import MODEL_INSTALL, Command, CommandAck

log = logging.getLogger("infernet.node.commands")

LEDGER_NAME = "commands.json"
LEDGER_SIZE = 500

AckSender = Callable[[str, CommandAck], Awaitable[None]]
ManagerFactory = Callable[[], Awaitable[ModelManager]]
_ledger_adapter: TypeAdapter[dict[str, CommandAck]] = TypeAdapter(dict[str, CommandAck])


class AckReply(BaseModel):
    """What the control plane answers an ack with (the command; only its status is used)."""

    id: str
    status: str


def ledger_path(config_path: Path) -> Path:
    return config_path.with_name(LEDGER_NAME)


def _load_ledger(path: Path | None) -> dict[str, CommandAck]:
    if path is None or not path.exists():
        return {}
    try:
        return _ledger_adapter.validate_json(path.read_bytes())
    except (OSError, ValidationError):
        log.warning(f"Ignoring unreadable command ledger {path}")
        return {}


class _ProgressLog:
    """Logs an install's progress every 10 %, for `infernet logs`."""

    def __init__(self, command: Command) -> None:
        self.command, self.next_pct = command, 0

    def __call__(self, step: PullProgress) -> None:
        if not step.total or step.completed is None:
            return
        pct = 100 * step.completed // step.total
        if pct >= self.next_pct:
            log.info(f"Command {self.command.id}: {self.command.model} {pct}% ({step.status})")
            self.next_pct = pct - pct % 10 + 10


class CommandExecutor:
    def __init__(self, manager: ManagerFactory, ack: AckSender, ledger: Path | None = None) -> None:
        self._manager, self._ack, self._ledger_path = manager, ack, ledger
        self.finished: dict[str, CommandAck] = _load_ledger(ledger)
        self.running: dict[str, asyncio.Task[CommandAck]] = {}
        self._resending: set[asyncio.Task[None]] = set()

    def submit(self, commands: Iterable[Command]) -> None:
        """Start each command not seen before; re-ack the finished ones. Returns at once."""
        for command in commands:
            if command.id in self.running:
                continue
            if (done := self.finished.get(command.id)) is not None:
                task = asyncio.create_task(self._send(command.id, done))
                self._resending.add(task)
                task.add_done_callback(self._resending.discard)
                continue
            self.running[command.id] = asyncio.create_task(
                self._run(command), name=f"command-{command.id}"
            )

    async def drain(self) -> None:
        """Wait for every command started so far (tests, shutdown)."""
        await asyncio.gather(*self.running.values(), *self._resending, return_exceptions=True)

    async def _run(self, command: Command) -> CommandAck:
        log.info(f"Command {command.id}: {command.type} {command.model}")
        await self._send(command.id, CommandAck(status="running"))
        try:
            outcome = await self.execute(command)
        finally:
            self.running.pop(command.id, None)
        self._remember(command.id, outcome)
        log.info(f"Command {command.id}: {outcome.status} {outcome.error or outcome.detail}")
        await self._send(command.id, outcome)
        return outcome

    async def execute(self, command: Command) -> CommandAck:
        try:
            manager = await self._manager()
            if command.type == MODEL_INSTALL:
                done = await manager.install(
                    command.model, strict=False, progress=_ProgressLog(command)
                )
                return CommandAck(status="done", detail=f"serving {done.name}")
            removed = await manager.remove(command.model)
        except (ModelError, BackendError, ConfigError) as exc:
            return CommandAck(status="failed", error=str(exc))
        if removed.delete_error is not None:
            error = f"no longer served, but its weights were not deleted: {removed.delete_error}"
            return CommandAck(status="failed", error=error)
        return CommandAck(status="done", detail=f"removed {command.model}")

    def _remember(self, command_id: str, outcome: CommandAck) -> None:
        self.finished[command_id] = outcome
        while len(self.finished) > LEDGER_SIZE:
            del self.finished[next(iter(self.finished))]
        if self._ledger_path is not None:
            body = {k: v.model_dump(mode="json") for k, v in self.finished.items()}
            write_atomic(self._ledger_path, json.dumps(body, indent=1) + "\n")

    async def _send(self, command_id: str, ack: CommandAck) -> None:
        try:
            await self._ack(command_id, ack)
        except ControlPlaneError as exc:
            log.warning(f"Command {command_id}: ack '{ack.status}' not delivered ({exc})")
