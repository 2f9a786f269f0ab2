"""`python -m bench [--quick] [--only 1,3,6a] [--out DIR] [--no-litellm]`: run the benchmark
suite and print one table of side-by-side ratios; write results.json and results.md.

Rows run one after another (never two at once: they would measure each other). A row
that fails prints as "missed" with the reason instead of stopping the others.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console

from bench import procs
from bench.context import Context
from bench.fake_engine import MODEL as FAKE_MODEL
from bench.report import Row, render, save, skipped
from bench.row_heartbeat import heartbeat_ingest
from bench.row_prefix import prefix_routing
from bench.row_relay import pure_overhead, relay_llamacpp
from bench.row_replicas import one_shared_replica, two_replicas
from bench.row_router import router
from bench.row_simnet import simulated_network
from bench.row_streams import concurrent_streams
from bench.sizes import FULL, QUICK
from infernet.backends.engine_process import free_port

RowFn = Callable[[Context], Awaitable[list[Row]]]
# Row 2 runs before 5: it measures the idle memory that row 5 reports.
Suite = tuple[tuple[str, str, RowFn], ...]
SUITE: Suite = (
    ("2", "2. Pure relay overhead (fake engine)", pure_overhead),
    ("1", "1. Relay on real llama.cpp (SmolLM2)", relay_llamacpp),
    ("3", "3. Router", router),
    ("4", "4. Heartbeat ingest", heartbeat_ingest),
    ("5", "5. Concurrent streams", concurrent_streams),
    ("6a", "6. Simulated network", simulated_network),
    ("6c", "6. Simulated network, one replica on the shared store", one_shared_replica),
    ("6b", "6. Simulated network, two replicas", two_replicas),
    ("7", "7. Prefix-aware routing on real llama.cpp", prefix_routing),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument(
        "--only", default="", help="comma-separated rows, e.g. 1,3 or 6a (6 runs 6a, 6c and 6b)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    return parser.parse_args()


async def run(args: argparse.Namespace, console: Console) -> list[Row]:
    wanted = {p.strip() for p in args.only.split(",") if p.strip()}
    use_litellm = procs.litellm_installed() and not args.no_litellm
    if not use_litellm:
        why = (
            "left out (--no-litellm)" if args.no_litellm else "not installed (run scripts/bench.sh)"
        )
        console.print(f"[yellow]LiteLLM {why}: its columns will say so.[/yellow]")
    work = args.out / "work"  # servers' logs and databases, kept for a look afterwards
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ctx = Context(work, QUICK if args.quick else FULL, console, use_litellm)
    suite = SUITE
    if args.quick and use_litellm and (not wanted or "2" in wanted):
        ctx.fake_port = free_port()
        ctx.early_litellm = procs.start_litellm(ctx.work, ctx.fake_port, FAKE_MODEL)
        suite = (SUITE[1], SUITE[0], *SUITE[2:])  # row 1 runs while LiteLLM boots
    try:
        rows = await _run_rows(ctx, suite, wanted)
    finally:
        if ctx.early_litellm is not None:
            await ctx.early_litellm.child.stop()
    return sorted(rows, key=lambda r: r.id)


async def _run_rows(ctx: Context, suite: Suite, wanted: set[str]) -> list[Row]:
    rows: list[Row] = []
    for number, name, fn in suite:
        if wanted and number not in wanted and number[0] not in wanted:
            continue  # --only 6 runs 6a, 6c and 6b; --only 6a runs that one alone
        started = time.perf_counter()
        try:
            rows += await fn(ctx)
        except Exception as exc:  # one broken row must not hide the others
            ctx.console.print_exception(max_frames=4)
            rows.append(skipped(number, name, f"failed: {exc!r}"[:300], verdict="missed"))
        ctx.say(f"row {number} took {time.perf_counter() - started:.0f} s")
    return rows


def main() -> None:
    args = parse_args()
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a log file or a pipe: keep the table's rows whole
    started = time.perf_counter()
    rows = asyncio.run(run(args, console))
    mode = "quick" if args.quick else "full"
    title = f"Infernet benchmarks ({mode}, {time.perf_counter() - started:.0f} s)"
    console.print(render(rows, title))
    save(rows, args.out, mode, console)


if __name__ == "__main__":
    main()
