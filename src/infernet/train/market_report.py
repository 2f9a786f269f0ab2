"""What an open-market run writes about itself: `metrics.jsonl`, one line per accepted
shard, and `README.md`: what was trained on what, by which nodes, with what result (the
losses the control plane's verifier measured, beside what each node reported), and what
it cost. Every number comes from the control plane's record of the job."""

from __future__ import annotations

import json

from infernet.train.basemodel import BaseModelRef, describe
from infernet.train.config import CONFIG_NAME, TrainConfig
from infernet.train.market_api import MarketJob, MarketShard


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"


def _line(shard: MarketShard) -> dict[str, object]:
    claim = shard.accepted or {}
    return {
        "shard": shard.position,
        "examples": shard.examples,
        "node_id": claim.get("node_id"),
        "steps": claim.get("steps"),
        "eval_loss_before": claim.get("verified_before"),
        "eval_loss_after": claim.get("verified_after"),
        "reported_before": claim.get("loss_before"),
        "reported_after": claim.get("loss_after"),
        "pay_usdc": shard.pay_usdc,
        "receipt": (claim.get("receipt") or {}).get("id"),
    }


def metrics_lines(job: MarketJob) -> list[str]:
    return [json.dumps(_line(s)) + "\n" for s in job.shards if s.status == "accepted"]


def _shard_rows(job: MarketJob) -> list[str]:
    rows = [
        "| shard | examples | node | status | eval loss (verified) | as reported | pay (USDC) |",
        "|---|---|---|---|---|---|---|",
    ]
    for shard in job.shards:
        claim = shard.accepted or {}
        verified = f"{_fmt(claim.get('verified_before'))} → {_fmt(claim.get('verified_after'))}"
        reported = f"{_fmt(claim.get('loss_before'))} → {_fmt(claim.get('loss_after'))}"
        paid = shard.pay_usdc if shard.status == "accepted" and job.payments else "-"
        rows.append(
            f"| {shard.position} | {shard.examples} | {claim.get('node_id', '-')} | "
            f"{shard.status} | {verified} | {reported} | {paid} |"
        )
    return rows


def render_market_readme(config: TrainConfig, base: BaseModelRef, job: MarketJob) -> str:
    accepted = job.count("accepted")
    nodes = {(s.accepted or {}).get("node_id") for s in job.shards if s.accepted}
    t, lo = config.training, config.lora
    money = (
        f"Budget {job.budget_usdc} USDC, paid {job.paid_usdc} USDC (each node 85 %, the "
        "platform 15 %); the rest went back to the submitter's balance."
        if job.payments
        else "The control plane runs with payments off: nothing was held or paid."
    )
    lines = [
        f"# {config.name}",
        "",
        f"A LoRA adapter for {describe(base)}, trained on the Infernet network "
        f"(`infernet train run --open-market`, training job `{job.id}`) by {len(nodes)} "
        f"node(s), one shard each at a time, and merged here: the FedAvg of their adapters, "
        "weighted by shard size (exact: the adapters are stacked, rank × shards).",
        "",
        "## Trained on",
        "",
        f"- Dataset: `{config.input.dataset}`, in {len(job.shards)} shards; settings as run: "
        f"`infernet.train.frozen.yml` (edit `{CONFIG_NAME}` for the next run)",
        f"- Per shard: epochs {t.epochs:g}, learning rate {t.learning_rate:g}, "
        f"batch {t.batch_size}, max {t.max_seq_len} tokens; LoRA rank {lo.rank}, "
        f"alpha {lo.alpha:g}, on {', '.join(lo.target_modules)}",
        "",
        "## Result",
        "",
        f"{accepted} of {len(job.shards)} shards accepted ({job.status}: {job.detail}). Eval "
        "loss on each shard's held-out lines, without → with its adapter, as the control "
        "plane's verifier measured it and as the node reported it:",
        "",
        *_shard_rows(job),
        "",
        money,
        "",
        "## Next",
        "",
        "`checkpoint-final/` holds the merged adapter (Hugging Face PEFT layout). "
        "`infernet publish` merges it into the base model, converts it to GGUF and "
        "quantizes it; `infernet model install` then serves it on a node.",
        "",
    ]
    return "\n".join(lines)
