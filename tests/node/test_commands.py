"""The node's command executor: each queued command runs once, and is acknowledged."""

from __future__ import annotations

from pathlib import Path

from infernet.node.commands import CommandExecutor, ledger_path
from infernet.node.config import NodeConfig, load_config, save_config
from infernet.node.models import MemoryBudget, ModelManager
from infernet.protocol.wire import Command, CommandAck
from tests.support.scripted import ScriptedBackend


class Acks:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str | None]] = []

    async def __call__(self, command_id: str, ack: CommandAck) -> None:
        self.sent.append((command_id, ack.status, ack.error))


def executor(tmp_path: Path, backend: ScriptedBackend, acks: Acks) -> CommandExecutor:
    config = tmp_path / "config.json"
    if not config.exists():
        save_config(NodeConfig(served_models=list(backend.models)), config)

    async def manager() -> ModelManager:
        return ModelManager(backend, config, MemoryBudget(16.0, "VRAM"))

    return CommandExecutor(manager, acks, ledger_path(config))


def install(command_id: str, model: str = "qwen2.5:7b") -> Command:
    return Command(
        id=command_id, type="model_install", model=model, issued_at="2026-04-30T14:00:00Z"
    )


async def test_a_command_is_acked_running_then_done(tmp_path: Path) -> None:
    backend, acks = ScriptedBackend(["a:1b"], backend_name="ollama"), Acks()
    commands = executor(tmp_path, backend, acks)
    commands.submit([install("cmd_1")])
    await commands.drain()
    assert acks.sent == [("cmd_1", "running", None), ("cmd_1", "done", None)]
    assert "qwen2.5:7b" in load_config(tmp_path / "config.json").served_models


async def test_redelivery_while_running_or_after_is_not_run_again(tmp_path: Path) -> None:
    backend, acks = ScriptedBackend(["a:1b"], backend_name="ollama"), Acks()
    commands = executor(tmp_path, backend, acks)
    commands.submit([install("cmd_1"), install("cmd_1")])
    commands.submit([install("cmd_1")])
    await commands.drain()
    commands.submit([install("cmd_1")])
    await commands.drain()
    assert backend.models.count("qwen2.5:7b") == 1
    assert [status for _, status, _ in acks.sent] == ["running", "done", "done"]


async def test_a_restarted_daemon_remembers_what_it_already_executed(tmp_path: Path) -> None:
    backend, acks = ScriptedBackend(["a:1b"], backend_name="ollama"), Acks()
    first = executor(tmp_path, backend, acks)
    first.submit([install("cmd_1")])
    await first.drain()
    backend.models.remove("qwen2.5:7b")  # if it ran again, it would pull again
    again = executor(tmp_path, backend, acks)
    again.submit([install("cmd_1")])
    await again.drain()
    assert "qwen2.5:7b" not in backend.models
    assert acks.sent[-1] == ("cmd_1", "done", None)


async def test_a_command_that_cannot_run_is_acked_failed_with_the_reason(tmp_path: Path) -> None:
    backend, acks = ScriptedBackend(["a:1b"], backend_name="ollama"), Acks()
    commands = executor(tmp_path, backend, acks)
    commands.submit([install("cmd_big", "qwen2.5:72b-instruct-fp16")])
    remove = Command(id="cmd_rm", type="model_remove", model="zz:9b", issued_at="x")
    commands.submit([remove])
    await commands.drain()
    failed = {cid: error for cid, status, error in acks.sent if status == "failed"}
    assert "does not fit" in (failed["cmd_big"] or "")
    assert "neither in served_models" in (failed["cmd_rm"] or "")


async def test_a_dashboard_install_that_does_not_fit_gives_advice_the_dashboard_can_follow(
    tmp_path: Path,
) -> None:
    """The dashboard has no --force: its failure says what to choose instead, and never
    tells a model that is already Q4 to pick a smaller quantization."""
    backend, acks = ScriptedBackend(["a:1b"], backend_name="ollama"), Acks()
    commands = executor(tmp_path, backend, acks)
    commands.submit([install("cmd_72b", "qwen2.5:72b"), install("cmd_bad", "qwen 2.5")])
    await commands.drain()
    failed = {cid: error or "" for cid, status, error in acks.sent if status == "failed"}
    assert "choose a smaller model" in failed["cmd_72b"]
    assert "--force" not in failed["cmd_72b"]
    assert "smaller quantization" not in failed["cmd_72b"]
    assert "no spaces" in failed["cmd_bad"]
    assert backend.models == ["a:1b"]
