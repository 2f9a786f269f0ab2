"""Run a command that starts processes of its own, and stop every one of them if the
test gives up on it.

`subprocess.run(timeout=...)` kills only the direct child: what it started (each in its
own session, like bench's control plane and nodes) would run on after the test. Here the
command runs in a new session; on timeout its whole tree of descendants, found through
/proc whatever session or group each is in, is frozen with SIGSTOP (so none can start
another) and then killed, and the test fails with the tail of what the command printed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest


def _parents() -> dict[int, int]:
    """pid -> parent pid, for every process visible now."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    return parents


def descendants(root: int) -> set[int]:
    parents, found, frontier = _parents(), set(), {root}
    while frontier:
        children = {pid for pid, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= frontier
    return found


def kill_tree(root: int) -> set[int]:
    """SIGKILL `root` and all its descendants (and their process groups); the pids."""
    stopped: set[int] = set()
    while new := ({root} | descendants(root)) - stopped:
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= new
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return stopped - {root}


def run_bounded(
    argv: Sequence[str], timeout: float, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Like `subprocess.run(argv, capture_output=True, text=True, timeout=timeout)`, but a
    timeout stops the command's every descendant too, then fails the test."""
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,  # type: ignore[call-overload]
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            others = kill_tree(process.pid)
            out, err = process.communicate()
            pytest.fail(
                f"{' '.join(argv)} did not finish within {timeout:.0f} s; stopped it and "
                f"{len(others)} process(es) it had started.\n{out[-3000:]}{err[-3000:]}"
            )
    return subprocess.CompletedProcess(argv, process.returncode, out, err)
