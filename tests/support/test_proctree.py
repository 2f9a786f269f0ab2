"""A test that gives up on a command stops everything the command started, including
processes in sessions of their own (bench starts its control plane and nodes that way)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.support.proctree import run_bounded

# Starts a worker in its own session, prints its pid, then hangs.
HANGS = """
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                          start_new_session=True)
print(worker.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_command_that_overruns_is_stopped_with_what_it_started() -> None:
    with pytest.raises(pytest.fail.Exception) as gave_up:
        run_bounded([sys.executable, "-c", HANGS], timeout=3)
    message = str(gave_up.value)
    assert "did not finish within 3 s; stopped it and 1 process(es) it had started" in message
    worker = int(message.strip().splitlines()[-1])  # what the command printed
    deadline = time.monotonic() + 5
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker)


def test_a_command_that_finishes_in_time_is_returned_as_run_would() -> None:
    done = run_bounded([sys.executable, "-c", "print('hi'); raise SystemExit(3)"], timeout=30)
    assert (done.returncode, done.stdout) == (3, "hi\n")
