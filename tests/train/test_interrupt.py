"""Ctrl-C during `train run --local` leaves a resumable checkpoint; `--resume` finishes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.train.conftest import make_run, needs_train_extra, zorblax_lines

pytestmark = pytest.mark.timeout(900)  # a real fine-tune on the CPU

STEPS = 10


def _logged_steps(run: Path) -> int:
    metrics = run / "metrics.jsonl"
    if not metrics.exists():
        return 0
    lines = [json.loads(line) for line in metrics.read_text().splitlines() if line]
    return max((m["step"] for m in lines if "loss" in m), default=0)


def test_ctrl_c_saves_a_checkpoint_that_resume_finishes(tmp_path: Path) -> None:
    needs_train_extra()
    run = make_run(tmp_path, zorblax_lines(20), max_steps=STEPS, batch_size=2)
    argv = [sys.executable, "-m", "infernet.cli", "train", "run", "--local", str(run)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while _logged_steps(run) < 1:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no training step within 5 minutes"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
    assert process.returncode == 130, out + err
    assert "Resume with: infernet train run --local --resume" in out
    saved = sorted((run / "checkpoints").glob("checkpoint-*"))
    assert saved and (saved[-1] / "trainer_state.json").is_file()
    stopped_at = int(saved[-1].name.split("-")[1])
    assert 1 <= stopped_at < STEPS
    assert not (run / "checkpoint-final").exists()

    again = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 1 and "--resume" in again.stderr  # never silently over it

    resumed = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (run / "checkpoint-final" / "adapter_model.safetensors").is_file()
    steps = [
        json.loads(line)["step"]
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if "loss" in json.loads(line) and "eval_loss" not in json.loads(line)
    ]
    assert steps[-1] == STEPS
    assert steps[stopped_at:] == list(range(stopped_at + 1, STEPS + 1))  # carried on, no redo
