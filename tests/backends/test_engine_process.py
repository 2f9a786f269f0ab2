"""An engine process the node started: how it ended is said in words, with the last lines
of its own log and the log's path, and stopping it stops its whole process group."""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path

import pytest

from infernet.backends.engine_process import EngineProcess, LaunchPlan, exit_reason, free_port
from infernet.backends.errors import EngineStartFailed

ROOT = Path(__file__).resolve().parents[2]


def python_plan(code: str, port: int | None = None) -> LaunchPlan:
    port = port or free_port()
    return LaunchPlan((sys.executable, "-c", code), f"http://127.0.0.1:{port}", "/health")


def tiny_engine(port: int, *args: str) -> LaunchPlan:
    argv = (sys.executable, "-m", "tests.fakes.tiny_engine", str(port), *args)
    env = {"PYTHONPATH": str(ROOT)}
    return LaunchPlan(argv, f"http://127.0.0.1:{port}", "/health", env)


def test_exit_statuses_read_as_what_happened() -> None:
    assert exit_reason(-signal.SIGSEGV) == "crashed (SIGSEGV)"
    assert exit_reason(-signal.SIGILL) == "crashed (SIGILL)"
    assert exit_reason(-signal.SIGKILL) == "was killed (SIGKILL)"
    assert exit_reason(3) == "exited with status 3"


async def test_a_crash_before_ready_is_reported_with_its_log_tail_and_path(
    tmp_path: Path,
) -> None:
    log = tmp_path / "engine.log"
    code = "import os, signal, sys; print('loading the model'); sys.stdout.flush(); "
    code += "os.kill(os.getpid(), signal.SIGSEGV)"
    engine = EngineProcess.start(python_plan(code), log, title="the test engine")
    with pytest.raises(EngineStartFailed) as failed:
        await engine.wait_ready(30)
    message = str(failed.value)
    assert message.startswith("the test engine crashed (SIGSEGV) before it was ready; ")
    assert "last lines of its log:\nloading the model\n" in message
    assert message.endswith(f"log file: {log}")


async def test_the_report_quotes_only_this_run_of_a_shared_log(tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    first = EngineProcess.start(python_plan("print('first run'); raise SystemExit(2)"), log)
    assert await first.wait_exit(30) == 2
    second = EngineProcess.start(python_plan("print('second run'); raise SystemExit(3)"), log)
    assert await second.wait_exit(30) == 3
    report = second.crash_report()
    assert "exited with status 3" in report and "second run" in report
    assert "first run" not in report
    assert "first run" in log.read_text()  # the file keeps both, each under a header line
    assert log.read_text().count("==> [") == 2


async def test_wait_ready_returns_once_the_health_endpoint_answers(tmp_path: Path) -> None:
    port = free_port()
    engine = EngineProcess.start(tiny_engine(port), tmp_path / "engine.log")
    try:
        await engine.wait_ready(30)
        assert engine.running and engine.exit_reason() is None
        assert "tiny engine" in engine.log_tail()
    finally:
        engine.stop(5)
    assert not engine.running


async def test_stop_reaps_the_workers_in_its_process_group(tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    engine = EngineProcess.start(tiny_engine(free_port(), "--spawn-sleeper"), log)
    await engine.wait_ready(30)
    match = re.search(r"worker (\d+)", log.read_text())
    assert match is not None
    worker = int(match.group(1))
    engine.stop(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(worker):
        time.sleep(0.05)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    """Running (a zombie, killed but not yet reaped by init, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_free_port_prefers_the_port_asked_for_when_it_is_free() -> None:
    port = free_port()
    assert free_port(port) == port
