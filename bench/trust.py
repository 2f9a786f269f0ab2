"""Trust benchmark (issue 18, docs/trust.md): how fast spot-checks catch dishonest nodes,
and how often they flag honest ones, on real llama.cpp engines serving SmolLM2.

    PYTHONPATH=src:. python -m bench.trust [--jobs 60] [--positions 8] [--out DIR]
    PYTHONPATH=src:. python -m bench.trust --quick     # 4 jobs per node: it runs, no figures

Every node is a real engine process (`python -m infernet.engine`, one thread unless
said) answering the same requests, drawn from the hidden checks' pool
(verification/pool.py, `max_tokens` capped at `MAX_TOKENS` to keep the run short).
Honest nodes differ from the verifier only in harmless ways (threads, batch size,
context size, cache state); dishonest ones run a degraded or different model
(bench/trust_models.py), sample hot when greedy was asked, or change a real answer
after the fact (cut short, padded, usage inflated). Each answer is checked as the
control plane checks it (`SpotCheck` against a verifier engine, `positions` positions),
at the function level: not through the network (whose path the tests cover).

Per kind: the share of its answers a single check flags; from it, verified jobs until
detection (median and 99th percentile, by resampling the answers); for honest nodes the
false-positive rate; and what a check costs next to the job it checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.trust_nodes import NODES, Job, NodePlan, answer_all, make_models
from infernet.backends.engine_process import free_port
from infernet.controlplane.verification.engine import LlamaServerScorer
from infernet.controlplane.verification.pool import draw
from infernet.controlplane.verification.spotcheck import SpotCheck
from infernet.engine.launch import find_smollm2, start_engine

MAX_TOKENS = 96
TRIALS = 20_000


@dataclass
class Outcome:
    node: str
    honest: bool
    flags: list[bool] = field(default_factory=list)
    greedy: list[bool] = field(default_factory=list)  # per job: was it a greedy request
    checks: dict[str, int] = field(default_factory=dict)
    job_s: list[float] = field(default_factory=list)
    check_s: list[float] = field(default_factory=list)


def jobs(count: int, rng: random.Random) -> list[Job]:
    drawn = []
    for _ in range(count):
        request = draw(rng)
        seed = rng.randrange(1, 2**31)
        drawn.append(Job(request, min(request.max_tokens, MAX_TOKENS), seed))
    return drawn


def until_detected(flags: list[bool], rng: random.Random) -> tuple[float, float] | None:
    """Median and 99th percentile of verified jobs until the first flag (None: never)."""
    if not any(flags):
        return None
    counts = []
    for _ in range(TRIALS):
        n = 1
        while not flags[rng.randrange(len(flags))]:
            n += 1
        counts.append(n)
    counts.sort()
    return statistics.median(counts), counts[int(0.99 * len(counts)) - 1]


async def check_node(verifier: str, plan: NodePlan, answers: list[Any], positions: int) -> Outcome:
    outcome = Outcome(plan.name, plan.honest)
    scorer = LlamaServerScorer(verifier)
    rng = random.Random(99)
    try:
        for answer, job_s in answers:
            started = time.perf_counter()
            verdict = await SpotCheck(scorer, rng, positions).check(answer)
            outcome.check_s.append(time.perf_counter() - started)
            outcome.job_s.append(job_s)
            outcome.flags.append(not verdict.passed)
            outcome.greedy.append(answer.temperature == 0)
            for finding in verdict.findings:
                outcome.checks[finding.check] = outcome.checks.get(finding.check, 0) + 1
    finally:
        await scorer.close()
    return outcome


def summary(outcome: Outcome, rng: random.Random) -> dict[str, Any]:
    n = len(outcome.flags)
    greedy = [f for f, g in zip(outcome.flags, outcome.greedy, strict=True) if g]
    sampled = [f for f, g in zip(outcome.flags, outcome.greedy, strict=True) if not g]
    detected = until_detected(outcome.flags, rng)
    return {
        "node": outcome.node,
        "honest": outcome.honest,
        "jobs": n,
        "flagged": sum(outcome.flags),
        "rate": sum(outcome.flags) / n if n else 0.0,
        "rate_greedy": f"{sum(greedy)}/{len(greedy)}",
        "rate_sampled": f"{sum(sampled)}/{len(sampled)}",
        "median_jobs": detected[0] if detected else None,
        "p99_jobs": detected[1] if detected else None,
        "checks": outcome.checks,
        "job_s": statistics.mean(outcome.job_s) if outcome.job_s else 0.0,
        "check_s": statistics.mean(outcome.check_s) if outcome.check_s else 0.0,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| node | honest | jobs | flagged | greedy | sampled | median | p99 | checks that fired |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        never = "never" if not r["flagged"] else None
        lines.append(
            f"| {r['node']} | {'yes' if r['honest'] else 'no'} | {r['jobs']} | "
            f"{r['rate']:.1%} | {r['rate_greedy']} | {r['rate_sampled']} | "
            f"{never or r['median_jobs']} | {never or r['p99_jobs']} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(r['checks'].items())) or '-'} |"
        )
    return "\n".join(lines)


async def run(count: int, positions: int, out: Path, nodes: list[NodePlan]) -> list[dict[str, Any]]:
    rng = random.Random(2026)
    drawn = jobs(count, rng)
    greedy_only = [replace(j, request=replace(j.request, temperature=0.0)) for j in drawn]
    with tempfile.TemporaryDirectory(prefix="trust-") as scratch:
        models = make_models(find_smollm2(), Path(scratch))
        verifier = start_engine(models["base"], free_port(), out / "verifier.log", threads=1)
        await verifier.wait_ready()
        rows = []
        try:
            for plan in nodes:
                asked = greedy_only if plan.greedy_only else drawn
                answers = await answer_all(plan, models, asked, out)
                outcome = await check_node(verifier.url, plan, answers, positions)
                rows.append(summary(outcome, rng))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
        finally:
            verifier.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trust", description=__doc__)
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--positions", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="4 jobs, 4 nodes: it runs")
    parser.add_argument("--out", type=Path, default=Path("bench-trust"))
    parser.add_argument("--only", default="", help="only nodes whose name matches this regex")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    nodes = NODES[:1] + NODES[2:5] if args.quick else NODES
    nodes = [n for n in nodes if re.search(args.only, n.name)]
    count = 4 if args.quick else args.jobs
    rows = asyncio.run(run(count, args.positions, args.out, nodes))
    print(table(rows))
    ratio = sum(r["check_s"] for r in rows) / max(sum(r["job_s"] for r in rows), 1e-9)
    print(
        f"a check costs {ratio:.1%} of its job's time: 5 % of compute checks "
        f"{min(1.0, 0.05 / ratio):.0%} of jobs"
    )
    (args.out / "trust.json").write_text(json.dumps({"rows": rows, "check_ratio": ratio}, indent=1))


if __name__ == "__main__":
    main()
