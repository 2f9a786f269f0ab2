"""The supervisor keeps the engine the node started running: a crash is logged with the
engine's own log lines and followed by a restart after a backoff; meanwhile the backend
reports itself unavailable with the reason; a crash loop ends after a few restarts with a
message that says so; a deliberate stop is not a crash. (Real llama.cpp crashing
mid-answer: tests/e2e/test_engine_crash_e2e.py.)"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from infernet.backends.engine_process import EngineProcess, LaunchPlan, free_port
from infernet.backends.llamacpp import LlamaCppBackend
from infernet.engine.supervisor import EngineSupervisor, SupervisedBackend

ROOT = Path(__file__).resolve().parents[2]


def tiny_engine(log: Path, *args: str) -> Callable[[], EngineProcess]:
    port = free_port()
    argv = (sys.executable, "-m", "tests.fakes.tiny_engine", str(port), *args)
    plan = LaunchPlan(argv, f"http://127.0.0.1:{port}", "/health", {"PYTHONPATH": str(ROOT)})
    return lambda: EngineProcess.start(plan, log, title="the tiny engine")


async def until(check: Callable[[], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def test_a_crashed_engine_is_restarted_and_reported_down_meanwhile(tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    seen: list[tuple[str, str]] = []
    supervisor = EngineSupervisor(tiny_engine(log), delays=(0.5, 1.0))
    supervisor.on_change = lambda: seen.append((supervisor.state, supervisor.detail()))
    backend = SupervisedBackend(LlamaCppBackend("http://127.0.0.1:1"), supervisor)
    await supervisor.start()
    try:
        first = supervisor.process
        assert first is not None and supervisor.state == "running"
        os.kill(first.pid, signal.SIGSEGV)
        await until(lambda: supervisor.state == "restarting")
        health = await backend.health()
        assert not health.ok
        assert health.detail == (
            f"the tiny engine crashed (SIGSEGV); restarting it (restart 1 of 2); log file: {log}"
        )
        await until(lambda: supervisor.state == "running")
        assert supervisor.process is not None and supervisor.process.pid != first.pid
        assert supervisor.process.running
        assert [state for state, _ in seen] == ["running", "restarting", "running"]
        assert log.read_text().count("tiny engine") == 2  # both runs wrote to one log
    finally:
        await backend.close()
    assert supervisor.state == "stopped" and not supervisor.process.running


async def test_a_health_check_that_races_the_crash_reports_the_crash(tmp_path: Path) -> None:
    """Asked after the engine died and before the supervisor's next look at it, the
    backend says the engine crashed and is restarting, not that nothing listens."""
    log = tmp_path / "engine.log"
    supervisor = EngineSupervisor(tiny_engine(log), delays=(0.5,))
    await supervisor.start()
    backend = SupervisedBackend(LlamaCppBackend(supervisor.url), supervisor)
    try:
        first = supervisor.process
        assert first is not None and (await backend.health()).ok
        os.kill(first.pid, signal.SIGSEGV)
        while first.returncode is None:  # reaped here, before the supervisor polls it
            await asyncio.sleep(0.001)
        health = await backend.health()
        assert not health.ok
        assert health.detail == (
            f"the tiny engine crashed (SIGSEGV); restarting it (restart 1 of 1); log file: {log}"
        )
    finally:
        await backend.close()


async def test_a_crash_loop_stops_after_the_last_restart_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "engine.log"
    # Directly on the logger: `infernet up` turns propagation to the root logger off.
    logging.getLogger("infernet.engine").addHandler(caplog.handler)
    states: list[str] = []
    supervisor = EngineSupervisor(tiny_engine(log, "--die-after", "0.3"), delays=(0.1, 0.1))
    supervisor.on_change = lambda: states.append(supervisor.state)
    await supervisor.start()
    try:
        await asyncio.wait_for(supervisor.gave_up.wait(), 30)
        assert states == ["running", "restarting", "running", "restarting", "running", "failed"]
        assert supervisor.crashes == 3
        detail = supervisor.detail()
        assert detail.startswith(
            "the tiny engine crashed (SIGSEGV) and was restarted 2 times, crashing again each "
            "time, so this node stopped restarting it. Last crash: the tiny engine crashed "
            "(SIGSEGV); last lines of its log:\ntiny engine"
        )
        assert f"log file: {log}" in detail and "infernet doctor" in detail
        assert caplog.records[-1].getMessage() == detail  # what the operator reads last
        assert supervisor.process is not None and not supervisor.process.running
    finally:
        logging.getLogger("infernet.engine").removeHandler(caplog.handler)
        await supervisor.stop()


async def test_a_long_enough_run_forgives_earlier_crashes(tmp_path: Path) -> None:
    supervisor = EngineSupervisor(
        tiny_engine(tmp_path / "engine.log", "--die-after", "0.3"), delays=(0.1,), stable_s=0.2
    )
    await supervisor.start()
    try:
        await until(lambda: supervisor.crashes == 1 and supervisor.state == "running")
        await until(lambda: supervisor.crashes == 1 and supervisor.state == "restarting")
        await until(lambda: supervisor.state == "running")
        assert not supervisor.gave_up.is_set()  # each run outlived stable_s: never a loop
    finally:
        await supervisor.stop()


async def test_stopping_the_engine_on_purpose_is_not_a_crash(tmp_path: Path) -> None:
    states: list[str] = []
    supervisor = EngineSupervisor(tiny_engine(tmp_path / "engine.log"), delays=(0.1,))
    supervisor.on_change = lambda: states.append(supervisor.state)
    await supervisor.start()
    process = supervisor.process
    await supervisor.stop()
    await asyncio.sleep(0.3)
    assert process is not None and not process.running
    assert states == ["running"] and supervisor.state == "stopped"
