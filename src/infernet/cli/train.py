"""`infernet train data | init | run`: make a dataset, scaffold a fine-tune, run it (Book §9.4),
on this machine (`run --local`) or on the network's nodes (`run --open-market`).

Needs the `train` extra for `run` (and trafilatura for `data`); each command says what to
install when something is missing. Exit codes as everywhere: 1 failed, 2 bad usage,
3 config or missing dependency, 4 the control plane unreachable or refusing (a budget
above the balance, say), 130 Ctrl-C (a resumable checkpoint for `--local`; for
`--open-market` the job goes on, and the same command waits for it again).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from infernet.cli.common import Exit, console, fail, user_errors

if TYPE_CHECKING:
    from infernet.train.market import MarketRequest
    from infernet.train.sources import UrlSource

app = typer.Typer(help="Fine-tune a model: make data, scaffold, run.", no_args_is_help=True)

DEFAULT_BASE = "SmolLM2-135M-Instruct.Q4_1.gguf"  # the bundled GGUF (engine/launch.py)


@app.command("data")
def data(
    query: str = typer.Argument(None, help="Search query (VALUE SERP, key in VALUESERP_API_KEY)."),
    top: int = typer.Option(10, "--top", min=1, max=100, help="How many search results."),
    url: list[str] = typer.Option([], "--url", help="A page to crawl (repeatable)."),
    urls: Path = typer.Option(None, "--urls", help="A file of page URLs, one per line."),
    output: Path = typer.Option(Path("train.jsonl"), "--output", "-o", help="JSONL to write."),
    min_chars: int = typer.Option(200, "--min-chars", min=1, help="Skip shorter paragraphs."),
    max_chars: int = typer.Option(4000, "--max-chars", min=50, help="Cut longer paragraphs."),
    domain: list[str] = typer.Option([], "--domain", help="Only these domains (repeatable)."),
    system: str = typer.Option(None, "--system", help="System message for every line."),
    timeout: float = typer.Option(15.0, "--timeout", min=1.0, help="Seconds per request."),
) -> None:
    """Search results (or your URLs) → pages → readable text → ChatML JSONL."""
    from infernet.train.chatml import DEFAULT_SYSTEM, ChatmlWriter
    from infernet.train.data import build_dataset

    if max_chars < min_chars:
        raise fail("--max-chars must be at least --min-chars", Exit.USAGE)
    with user_errors():
        source = _source(query, top, url, urls)
        writer = ChatmlWriter(system or DEFAULT_SYSTEM, min_chars, max_chars)
        console.print(f"Collecting {source.label}")
        progress = Progress(
            TextColumn("Fetching pages"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[url]}"),
            console=console,
        )
        task = progress.add_task("fetch", total=None, url="")
        with progress:
            report = build_dataset(
                source,
                output,
                writer,
                domains=tuple(domain),
                timeout_s=timeout,
                on_start=lambda total: progress.update(task, total=total),
                on_page=lambda page, error: progress.update(task, advance=1, url=page[-60:]),
            )
    _print_data_summary(report)


def _source(query: str | None, top: int, url: list[str], urls: Path | None) -> UrlSource:
    from infernet.train.sources import UrlListSource, ValueSerpSource

    if query and (url or urls):
        raise fail("give a search QUERY or --url/--urls, not both", Exit.USAGE)
    if url:
        return UrlListSource(tuple(url))
    if urls:
        return UrlListSource.from_file(urls)
    if query:
        return ValueSerpSource.from_env(query, top)
    raise fail("give a search QUERY, or pages with --url / --urls FILE", Exit.USAGE)


def _print_data_summary(report: object) -> None:
    from infernet.train.data import DataReport

    assert isinstance(report, DataReport)
    t = report.tally
    console.print(f"Pages: {report.fetched} fetched, {len(report.failed)} failed")
    for page, why in report.failed:
        console.print(f"  failed {page}: {why}", highlight=False)
    for page in report.off_domain:
        console.print(f"  skipped {page}: not in --domain", highlight=False)
    for page in t.pages_without_text:
        console.print(f"  no readable text in {page}", highlight=False)
    console.print(
        f"Paragraphs: {t.seen} found, {t.too_short} too short, {t.duplicates} duplicates, "
        f"{t.truncated} truncated"
    )
    console.print(f"Wrote {t.written} lines to {report.output}")


@app.command("init")
def init(
    output: Path = typer.Option(Path("run"), "--output", "-o", help="Run folder to create."),
    name: str = typer.Option(None, "--name", help="Run name (default: the folder's name)."),
    base_model: str = typer.Option(DEFAULT_BASE, "--base-model", help="GGUF, folder or Hub id."),
    dataset: str = typer.Option("../train.jsonl", "--dataset", help="ChatML JSONL (from the run)."),
    runtime: str = typer.Option("trl", "--runtime", help="trl | unsloth | axolotl"),
    method: str = typer.Option("lora", "--method", help="lora | qlora"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write RUN/infernet.train.yml with every setting and what it does."""
    from infernet.train.config import CONFIG_NAME, parse_config, write_new_config

    with user_errors():
        config = parse_config(
            {
                "name": name or output.resolve().name,
                "base_model": base_model,
                "method": method,
                "runtime": runtime,
                "input": {"dataset": dataset},
            },
            "the options",
        )
        path = output / CONFIG_NAME
        write_new_config(path, config, force=force)
    console.print(f"Wrote {path}. Edit it, then: infernet train run --local {output}")


@app.command("run")
def run(
    folder: Path = typer.Argument(Path("."), help="Run folder (holds infernet.train.yml)."),
    local: bool = typer.Option(False, "--local", help="Train on this machine."),
    open_market: bool = typer.Option(
        False, "--open-market", help="Train on the network's nodes (federated LoRA), for pay."
    ),
    budget: str = typer.Option(None, "--budget", help="USDC the nodes may earn (--open-market)."),
    max_nodes: int = typer.Option(
        None, "--max-nodes", min=1, help="Nodes at most (--open-market)."
    ),
    shards: int = typer.Option(None, "--shards", min=1, help="Shards (default: --max-nodes)."),
    deadline_hours: float = typer.Option(24.0, "--deadline-hours", min=0.001, help="Then it ends."),
    api_key: str = typer.Option(None, envvar="INFERNET_API_KEY", help="Your API key."),
    url: str = typer.Option(
        "http://127.0.0.1:8700", "--control-plane", envvar="INFERNET_CONTROL_PLANE_URL"
    ),
    poll: float = typer.Option(5.0, "--poll", min=0.1, hidden=True),
    resume: bool = typer.Option(False, "--resume", help="Continue an unfinished run."),
    restart: bool = typer.Option(False, "--restart", help="Discard an unfinished run."),
) -> None:
    """Fine-tune as infernet.train.yml says; writes metrics, README and checkpoint-final/."""
    if local == open_market:
        raise fail("choose where to train: --local (this machine) or --open-market", Exit.USAGE)
    if resume and restart:
        raise fail("--resume and --restart exclude each other", Exit.USAGE)
    os.environ.setdefault("TQDM_DISABLE", "1")  # library bars; ours shows loss and ETA
    if local:
        _run_local(folder, resume, restart)
        return
    if budget is None or max_nodes is None:
        raise fail("--open-market needs --budget USD and --max-nodes N", Exit.USAGE)
    if not api_key:
        raise fail("--open-market needs your API key: set INFERNET_API_KEY", Exit.CONFIG)
    from infernet.train.market import MarketRequest

    request = MarketRequest(budget, max_nodes, shards, deadline_hours, poll)
    _run_market(folder, request, api_key, url, restart)


def _run_local(folder: Path, resume: bool, restart: bool) -> None:
    from infernet.train.runner import run_local

    with user_errors():
        try:
            outcome = run_local(folder, console, resume=resume, restart=restart)
        except KeyboardInterrupt as exc:
            raise fail(
                "aborted; the last saved checkpoint (if any) can be resumed", Exit.INTERRUPTED
            ) from exc
    if outcome.stopped is not None:
        where = outcome.checkpoint or outcome.paths.checkpoints
        console.print(
            f"Stopped at step {outcome.steps}/{outcome.max_steps}: {outcome.stopped}. "
            f"Checkpoint: {where}\nResume with: infernet train run --local --resume {folder}"
        )
        code = Exit.INTERRUPTED if "Ctrl-C" in outcome.stopped else Exit.FAILED
        raise typer.Exit(int(code))
    losses = outcome.losses
    if losses:
        console.print(f"Training loss {losses[0]:.4f} → {losses[-1]:.4f} in {outcome.steps} steps")
    if outcome.eval_before is not None and outcome.eval_after is not None:
        console.print(f"Eval loss {outcome.eval_before:.4f} → {outcome.eval_after:.4f}")
    console.print(f"Adapter: {outcome.paths.final}\nReport: {outcome.paths.readme}")


def _run_market(
    folder: Path, request: MarketRequest, api_key: str, url: str, restart: bool
) -> None:
    from infernet.train.market import STATE, run_market
    from infernet.train.market_api import MarketClient

    if restart:
        (folder / STATE).unlink(missing_ok=True)
    client = MarketClient(url, api_key)
    with user_errors():
        try:
            outcome = run_market(folder, console, client, request)
        except KeyboardInterrupt as exc:
            raise fail(
                "stopped waiting; the job goes on on the network: run the same command "
                "again to wait for it and merge the result",
                Exit.INTERRUPTED,
            ) from exc
        finally:
            client.close()
    job = outcome.job
    accepted = job.count("accepted")
    console.print(f"Training job {job.id} {job.status}: {accepted} of {len(job.shards)} shards")
    if job.status == "partial":
        console.print(f"The adapter merges the accepted shards only: {job.detail}")
    if job.payments:
        console.print(f"Paid {job.paid_usdc} of a {job.budget_usdc} USDC budget; the rest is back")
    console.print(f"Adapter: {outcome.paths.final}\nReport: {outcome.paths.readme}")
