"""What the trainer reports while it runs: a progress bar with loss and ETA, one JSON line
per logged step in `metrics.jsonl`, and a clean stop (with a resumable checkpoint) on
Ctrl-C or when `resources.max_runtime_hours` is reached.

Ctrl-C is caught once: the step in flight finishes, the trainer saves a full checkpoint
(adapter, optimizer, scheduler, RNG state) and stops. A second Ctrl-C aborts at once.
Imported only after transformers is known to be installed.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from transformers import TrainerCallback


@dataclass
class StopRequest:
    """Why training should stop early; set from a signal handler or the clock."""

    reason: str | None = None


@contextmanager
def ctrl_c_stops(stop: StopRequest, console: Console) -> Iterator[None]:
    """While inside: the first SIGINT asks for a checkpoint and a stop, the second aborts."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.reason is not None:
            raise KeyboardInterrupt
        stop.reason = "interrupted (Ctrl-C)"
        console.print("Stopping after this step and saving a checkpoint (Ctrl-C again aborts).")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class StopCallback(TrainerCallback):  # type: ignore[misc]
    """Turns a stop request (or the runtime limit) into save-then-stop at a step boundary."""

    def __init__(self, stop: StopRequest, max_runtime_s: float) -> None:
        self.stop, self.deadline = stop, time.monotonic() + max_runtime_s

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.stop.reason is None and time.monotonic() > self.deadline:
            self.stop.reason = "resources.max_runtime_hours reached"
        if self.stop.reason is not None:
            control.should_save = True
            control.should_training_stop = True
        return control


class MetricsCallback(TrainerCallback):  # type: ignore[misc]
    """Appends `{"step", "epoch", "loss", ...}` and `{"step", "eval_loss"}` lines."""

    KEYS = ("loss", "eval_loss", "learning_rate", "grad_norm", "epoch")

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        values = {k: logs[k] for k in self.KEYS if logs and k in logs}
        if "loss" in values or "eval_loss" in values:
            record = {"step": state.global_step, **values, "time": round(time.time(), 3)}
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")


class ProgressCallback(TrainerCallback):  # type: ignore[misc]
    """`Training ━━━━━━╺━━━ 12/40 loss 2.31 0:00:41 eta 0:01:10`."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress = Progress(
            TextColumn("Training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, loss="-")
        self.progress.update(self.task, completed=state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        if self.progress is not None and self.task is not None and logs and "loss" in logs:
            self.progress.update(self.task, loss=f"{logs['loss']:.3f}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
