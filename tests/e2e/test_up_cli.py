"""`infernet up` when the engine cannot serve: it says what failed (quoting the engine's
log), where the logs are and what to try, exits 5 (a backend problem) and never shows a
Python traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infernet.backends.engine_process import free_port

pytestmark = pytest.mark.e2e


def test_an_engine_that_cannot_start_is_explained_with_exit_5(tmp_path: Path) -> None:
    model = tmp_path / "broken.gguf"
    model.write_bytes(b"not a GGUF file")
    home = tmp_path / "home"
    argv = [sys.executable, "-m", "infernet.cli", "up", "--model", str(model)]
    argv += ["--port", str(free_port()), "--home", str(home)]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "400", "NO_COLOR": "1"},
    )
    out = done.stdout + done.stderr
    assert done.returncode == 5, out
    assert "Traceback" not in out
    assert "error: the llama.cpp engine exited with status 1 before it was ready" in out
    assert f"infernet engine: cannot serve {model}" in out  # the engine's own words
    assert f"log file: {home / 'engine.log'}" in out
    assert "Try `infernet doctor`" in out
