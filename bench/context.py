"""What every benchmark row gets: where to put files, how big to run, what is installed,
and a place to leave measurements that a later row reports beside its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from bench.procs import LiteLLM
from bench.sizes import Sizes


@dataclass
class Context:
    work: Path
    sizes: Sizes
    console: Console
    use_litellm: bool
    shared: dict[str, float] = field(default_factory=dict)
    # Quick mode starts LiteLLM's proxy first (it takes ~15 s to boot) in front of a port
    # that row 2's fake engine will take later, so the boot overlaps row 1.
    early_litellm: LiteLLM | None = None
    fake_port: int | None = None

    def say(self, text: str) -> None:
        self.console.print(f"[dim]· {text}[/dim]")
