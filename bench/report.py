"""One benchmark table: the rows, how they print (Rich) and how they are saved (JSON, Markdown).

Every row is a ratio or a number measured side by side in one run, with the target it is
held to and a verdict. A row that could not run says why in `note` and carries no number:
nothing here is ever filled in with a made-up value.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

COLUMNS = ("Row", "Benchmark", "Baseline", "Ours", "Peer (LiteLLM)", "Ratio", "Target", "Verdict")


@dataclass
class Row:
    """One line of the table. `verdict` is "met", "missed", "info", "skipped" or "not run"."""

    id: str
    name: str
    baseline: str = ""
    ours: str = ""
    peer: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = "info"
    note: str = ""
    data: dict[str, float | int | str | None] = field(default_factory=dict)

    def cells(self) -> tuple[str, ...]:
        verdict = self.verdict + (f": {self.note}" if self.note else "")
        return (
            self.id,
            self.name,
            self.baseline,
            self.ours,
            self.peer,
            self.ratio,
            self.target,
            verdict,
        )


def skipped(row_id: str, name: str, why: str, *, verdict: str = "skipped") -> Row:
    return Row(row_id, name, verdict=verdict, note=why)


def verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return {
        "nproc": str(os.cpu_count() or 0),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def render(rows: list[Row], title: str) -> Table:
    table = Table(title=title, show_lines=True)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        style = {"missed": "red", "met": "green"}.get(row.verdict)
        table.add_row(*row.cells(), style=style)
    return table


def markdown(rows: list[Row], meta: dict[str, str]) -> str:
    lines = [f"Run {meta['date']} on {meta['nproc']} × {meta['cpu']} ({meta['mode']} mode)", ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    for row in rows:
        cells = (c.replace("|", "\\|").replace("\n", "<br>") for c in row.cells())
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def save(rows: list[Row], out_dir: Path, mode: str, console: Console) -> dict[str, str]:
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "mode": mode, **machine()}
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "rows": [asdict(r) for r in rows]}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2))
    (out_dir / "results.md").write_text(markdown(rows, meta))
    console.print(f"Results written to {out_dir / 'results.json'} and {out_dir / 'results.md'}")
    return meta
