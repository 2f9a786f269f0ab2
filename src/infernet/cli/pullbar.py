"""The pull progress bar: backend `PullProgress` fed into one rich bar, like the Book's
`██████████████████░░ 89% (7.2 GB / 8.1 GB) 45 MB/s`. Ollama pulls several layers; the bar
shows their sum. Verbose mode also prints each status line the backend reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from infernet.backends.base import PullProgress
from infernet.cli.common import console as stdout_console


class SizeColumn(ProgressColumn):
    """`(7.2 GB / 8.1 GB)` in decimal units, as the Book prints it."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text(f"({decimal(int(task.completed))})")
        return Text(f"({decimal(int(task.completed))} / {decimal(int(task.total))})")


@dataclass
class PullBar:
    """Feeds backend `PullProgress` into one rich bar (layers summed); prints statuses
    when verbose. The bar appears with the first progress the backend reports, so a model
    already pulled shows none."""

    label: str
    verbose: bool = False
    console: Console = stdout_console
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)
    last_status: str = ""
    progress: Progress | None = None
    task: TaskID | None = None

    def _bar(self) -> tuple[Progress, TaskID]:
        if self.progress is None or self.task is None:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=20, complete_style="white", finished_style="white"),
                TextColumn("{task.percentage:>3.0f}%"),
                SizeColumn(),
                TransferSpeedColumn(),
                console=self.console,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=None)
        return self.progress, self.task

    def __call__(self, step: PullProgress) -> None:
        progress, task = self._bar()
        if step.total:
            self.layers[step.status] = (step.completed or 0, step.total)
            done = sum(c for c, _ in self.layers.values())
            total = sum(t for _, t in self.layers.values())
            progress.update(task, completed=done, total=total)
        if self.verbose and step.status != self.last_status:
            progress.console.print(f"  {step.status}")
        self.last_status = step.status
        if step.status == "success":
            finished = sum(t for _, t in self.layers.values())
            progress.update(task, completed=finished, total=finished or None)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def pull_bar(
    label: str, *, verbose: bool = False, console: Console = stdout_console
) -> Iterator[PullBar]:
    bar = PullBar(label, verbose, console)
    try:
        yield bar
    finally:
        bar.close()
