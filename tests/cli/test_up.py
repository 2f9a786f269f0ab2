"""`infernet up` turns whatever stopped it into a message (what failed, where the logs
are, what to try) and the README's exit code; an unexpected error's traceback goes to a
file, never to the terminal. (The real thing, with an engine that cannot start:
tests/e2e/test_up_cli.py.)"""

from __future__ import annotations

from pathlib import Path

from infernet.backends.errors import EngineStartFailed
from infernet.cli.common import Exit
from infernet.cli.up import DemoChatFailed, EngineGaveUp, explain_failure
from infernet.localnet import LocalNetwork


def network(tmp_path: Path) -> LocalNetwork:
    return LocalNetwork(tmp_path, port=8799, model_path=tmp_path / "model.gguf")


def test_engine_failures_exit_5_with_where_the_logs_are(tmp_path: Path) -> None:
    net = network(tmp_path)
    for problem in (
        EngineStartFailed("the llama.cpp engine crashed (SIGILL) before it was ready"),
        EngineGaveUp("the llama.cpp engine crashed (SIGSEGV) and was restarted 4 times"),
        DemoChatFailed("backend_unavailable", "The node's backend is unavailable: ..."),
    ):
        message, code = explain_failure(problem, net)
        assert code == Exit.BACKEND
        assert f"the engine's in {tmp_path / 'engine.log'}" in message
        assert "Try `infernet doctor`" in message


def test_a_refused_first_chat_is_a_plain_failure(tmp_path: Path) -> None:
    message, code = explain_failure(DemoChatFailed("rate_limited", "slow down"), network(tmp_path))
    assert code == Exit.FAILED
    assert message.startswith("the first chat through the network failed: rate_limited: slow")


def test_an_unexpected_error_keeps_its_traceback_in_a_file(tmp_path: Path) -> None:
    net = network(tmp_path)
    try:
        raise RuntimeError("something nobody planned for")
    except RuntimeError as exc:
        message, code = explain_failure(exc, net)
    assert code == Exit.FAILED
    assert "Traceback" not in message
    assert f"traceback in {tmp_path / 'up.log'}" in message
    assert "RuntimeError: something nobody planned for" in (tmp_path / "up.log").read_text()
