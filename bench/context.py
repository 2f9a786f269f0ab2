"""What every benchmark row gets: where to put files, how big to run, what is installed,
and a place to leave measurements that a later row reports beside its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from bench.sizes import Sizes


@dataclass
class Context:
    work: Path
    sizes: Sizes
    console: Console
    use_litellm: bool
    shared: dict[str, float] = field(default_factory=dict)

    def say(self, text: str) -> None:
        self.console.print(f"[dim]· {text}[/dim]")
