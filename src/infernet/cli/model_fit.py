"""`infernet model recommend [--install-all] [--json]` and `infernet model info NAME [--json]`:
which models suit this node, and what one model needs.

Both size a model the one way `model install` checks it: `vram.estimate_vram` of the name
the node's backend installs (an Ollama tag pulls Q4, a Hugging Face id is 16-bit, a GGUF
says its quantization), so `recommend`, `info` and the install's fit check always quote
the same number. `recommend` lists only models the backend has a name for, under the
tier `status` and the heartbeat report (`nodectx.tier_of`).

`--install-all` installs, in the recommended order, the models that fit in memory
*together* with the ones served already (the seed's advice for keeping models hot), not
every model that fits on its own; models already served are neither pulled again nor
counted twice.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.table import Table

from infernet.backends.errors import BackendError
from infernet.cli import nodectx
from infernet.cli.common import Exit, console, fail, user_errors
from infernet.cli.model import checked_name, run_install
from infernet.cli.nodectx import CONFIG_OPTION, load, load_if_present, open_backend, tier_of
from infernet.node.config import NodeConfig
from infernet.node.models import MemoryBudget
from infernet.protocol.modelnames import names_for_backend, routing_key
from infernet.protocol.vram import (
    BYTES_PER_PARAM,
    FIT_HEADROOM,
    Recommendation,
    check_fit,
    estimate_vram,
    recommend,
)

NAME_BACKENDS = ("ollama", "vllm", "llamacpp")


def fit_together(
    names: list[tuple[str, float]], budget_gb: float, used_gb: float = 0.0
) -> list[str]:
    """Greedy, in order: the names whose estimates fit in `budget_gb` all at once, beside
    `used_gb` already taken (the same 10 % headroom as a single model's fit check)."""
    chosen, used = [], used_gb
    for name, need in names:
        if used + need <= budget_gb * FIT_HEADROOM:
            chosen.append(name)
            used += need
    return chosen


def _row(pick: Recommendation, served: set[str]) -> dict[str, object]:
    return {
        "name": pick.name,
        "key": pick.entry.key,
        "params_b": pick.entry.params_b,
        "quant": pick.quant,
        "needs_gb": round(pick.estimate_gb, 1),
        "tier_default": pick.is_tier_default,
        "served": pick.entry.key in served,
    }


def _served_gb(served: list[str]) -> float:
    """Memory the served models take, by the same estimate (unknown sizes count 0)."""
    return sum(e.total_gb for e in map(estimate_vram, served) if e is not None)


async def _held_keys(config: NodeConfig) -> set[str]:
    try:
        async with open_backend(config) as backend:
            return {routing_key(m.name) for m in await backend.list_models()}
    except BackendError:
        return set()  # the install itself will say what is wrong with the backend


def _install_all(
    path: Path,
    config: NodeConfig,
    rows: list[dict[str, object]],
    budget: MemoryBudget | None,
    backend: str,
) -> None:
    if backend == "llamacpp":
        raise fail(
            "llama.cpp installs GGUF paths or URLs: install one with "
            "`infernet model install PATH`.",
            Exit.USAGE,
        )
    have = {routing_key(n) for n in config.served_models} | asyncio.run(_held_keys(config))
    wanted = [(str(r["name"]), float(str(r["needs_gb"]))) for r in rows if r["key"] not in have]
    chosen = fit_together(wanted, budget.gb if budget else 0.0, _served_gb(config.served_models))
    if not chosen:
        console.print("Nothing to install: the recommended models that fit are served already.")
        return
    console.print(f"Installing {', '.join(chosen)} (they fit in memory beside what is served).")
    run_install(path, config, chosen)


def recommend_models(
    install_all: bool = typer.Option(
        False, "--install-all", help="Install the recommended models that fit together."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Models suited to this node's tier and memory, the tier's default first."""
    if install_all and as_json:  # the pulls' progress would break the JSON on stdout
        raise fail("--install-all prints progress; run it without --json.", Exit.USAGE)
    with user_errors():
        path, settings = load(config)
        report = nodectx.hardware()
        tier = tier_of(settings, report)
        budget = MemoryBudget.from_report(report)
        backend = settings.backend or "ollama"
        picks = recommend(tier.tier, budget.gb if budget else 0.0, backend)
        served = {routing_key(n) for n in settings.served_models}
        rows = [_row(pick, served) for pick in picks]
        if as_json:
            memory = {"gb": round(budget.gb, 1), "source": budget.source} if budget else None
            body: dict[str, object] = {"tier": tier.tier, "tier_source": tier.source}
            body["detected_tier"] = tier.detected
            body |= {"memory": memory, "backend": backend, "models": rows}
            typer.echo(json.dumps(body, indent=2))
        else:
            memory_text = f"; {budget.source} {budget.gb:.1f} GB" if budget else ""
            console.print(f"Tier {tier.describe()}{memory_text}; names for {backend}:")
            console.print(_table(rows))
        if install_all:
            _install_all(path, settings, rows, budget, backend)


def _table(rows: list[dict[str, object]]) -> Table:
    table = Table("Model", "Params", "Quant", "Needs", "", box=None, pad_edge=False)
    for row in rows:
        notes = [
            n for n, on in (("tier default", row["tier_default"]), ("served", row["served"])) if on
        ]
        table.add_row(
            str(row["name"]),
            f"{row['params_b']:g}B",
            str(row["quant"]).upper(),
            f"{row['needs_gb']} GB",
            ", ".join(notes),
        )
    return table


def describe(name: str) -> dict[str, object] | None:
    """What `model info` says about the model itself (no hardware involved); None when
    its size is unknown."""
    estimate = estimate_vram(name)
    if estimate is None:
        return None
    return {
        "name": name,
        "key": estimate.spec.key,
        "params_b": estimate.params_b,
        "quant": estimate.quant,
        "quant_is_default": estimate.spec.quant_is_default,
        "needs_gb": round(estimate.total_gb, 1),
        "weights_gb": round(estimate.weights_gb, 1),
        "overhead_gb": round(estimate.overhead_gb, 1),
        "weights_at": {
            q: round(estimate.params_b * BYTES_PER_PARAM[q], 1) for q in ("fp16", "int8", "q4")
        },
        "names": {b: names_for_backend(name, b) for b in NAME_BACKENDS},
    }


def _info_lines(facts: dict[str, object]) -> list[str]:
    default = " (the default for this name)" if facts["quant_is_default"] else ""
    at = facts["weights_at"]
    names = facts["names"]
    assert isinstance(at, dict) and isinstance(names, dict)
    return [
        f"Model:        {facts['name']}  (routing key {facts['key']})",
        f"Parameters:   {facts['params_b']:g}B",
        f"Quantization: {facts['quant']}{default}",
        f"VRAM needed:  {facts['needs_gb']:.1f} GB ({facts['weights_gb']:.1f} GB weights"
        f" + {facts['overhead_gb']:.1f} GB KV cache and runtime)",
        "Weights at:   " + ", ".join(f"{q.upper()} {gb:.1f} GB" for q, gb in at.items()),
        "Names:",
        *(f"  {b:<9} {n or '-'}" for b, n in names.items()),
    ]


def info(
    name: str = typer.Argument(..., help="Any backend's name, e.g. hf:Qwen/Qwen2.5-7B-Instruct"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path = CONFIG_OPTION,
) -> None:
    """The VRAM estimate for a model, and whether it fits this node."""
    checked_name(name)
    with user_errors():
        settings = load_if_present(config)
    report = nodectx.hardware()
    budget = MemoryBudget.from_report(report)
    fit = check_fit(name, budget.gb if budget else 0.0)
    facts = describe(name)
    tier = tier_of(settings, report)
    if as_json:
        node: dict[str, object] = {"tier": tier.tier}
        node["memory_gb"] = round(budget.gb, 1) if budget else None
        node |= {"memory_source": budget.source if budget else None, "fit": fit.verdict}
        body = {"model": facts, "node": node | {"message": fit.message}}
        typer.echo(json.dumps(body, indent=2))
        return
    for line in _info_lines(facts) if facts else []:
        console.print(line)
    where = f"This node ({tier.describe()}, {budget.source})" if budget else "This node"
    console.print(f"{where}: {fit.message}")
