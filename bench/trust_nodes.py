"""The nodes of the trust benchmark (bench/trust.py): how each runs its engine and what
it does to its answers before it reports them."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench.trust_models import fewer_layers, perturbed, requantized
from infernet.backends.engine_process import EngineProcess, free_port
from infernet.controlplane.verification.pool import HiddenRequest
from infernet.controlplane.verification.scoring import Usage
from infernet.controlplane.verification.spotcheck import Answer
from infernet.engine.launch import engine_plan

Tamper = Callable[[Answer, random.Random], Answer]
FILLER = " Furthermore, it is important to remember that every situation is different."


@dataclass(frozen=True)
class Job:
    request: HiddenRequest
    max_tokens: int
    seed: int


@dataclass(frozen=True)
class NodePlan:
    name: str
    honest: bool
    model: str = "base"  # which file of `make_models`
    engine_args: tuple[str, ...] = ()
    threads: int = 1
    temperature: float | None = None  # sample at this, whatever was asked
    greedy_only: bool = False  # only greedy requests (the cheat is about them)
    tamper: Tamper | None = None


def _truncate(answer: Answer, rng: random.Random) -> Answer:
    words = answer.text.split(" ")
    if len(words) < 4:
        return answer
    keep = max(1, int(len(words) * rng.uniform(0.3, 0.8)))
    share = keep / len(words)
    usage = Usage(answer.usage.prompt_tokens, max(1, int(answer.usage.completion_tokens * share)))
    return replace(answer, text=" ".join(words[:keep]), finish_reason="stop", usage=usage)


def _pad(answer: Answer, rng: random.Random) -> Answer:
    extra = FILLER * rng.randint(1, 3)
    usage = Usage(answer.usage.prompt_tokens, answer.usage.completion_tokens + len(extra) // 5)
    return replace(answer, text=answer.text + extra, usage=usage)


def _inflate(answer: Answer, rng: random.Random) -> Answer:
    claimed = Usage(
        int(answer.usage.prompt_tokens * 1.1) + 1, int(answer.usage.completion_tokens * 1.2) + 2
    )
    return replace(answer, usage=claimed)


NODES = [  # the honest node first: the tampering ones change its answers
    NodePlan("honest, as the verifier", True),
    NodePlan("honest, 2 threads", True, threads=2),
    NodePlan("truncated answers", False, tamper=_truncate),
    NodePlan("padded answers", False, tamper=_pad),
    NodePlan("inflated usage (x1.2)", False, tamper=_inflate),
    NodePlan("degraded: norms perturbed 10 %", False, model="perturbed"),
    NodePlan("different model: 20 of 30 layers", False, model="fewer_layers"),
    NodePlan("sampler: temperature 1.0 for 0", False, temperature=1.0, greedy_only=True),
    NodePlan("degraded: requantized (Q2_K asked)", False, model="requantized"),
    NodePlan("honest, batch 32", True, engine_args=("--batch-size", "32")),
    NodePlan("honest, context 1024", True, engine_args=("--ctx-size", "1024")),
]


def make_models(base: Path, scratch: Path) -> dict[str, Path]:
    return {
        "base": base,
        "perturbed": perturbed(base, scratch / "perturbed.gguf", 0.10),
        "requantized": requantized(base, scratch / "requantized.gguf"),
        "fewer_layers": fewer_layers(base, scratch / "fewer_layers.gguf", 20),
    }


def _body(plan: NodePlan, job: Job) -> dict[str, Any]:
    r = job.request
    return {
        "messages": [m.model_dump() for m in r.messages],
        "max_tokens": job.max_tokens,
        "temperature": plan.temperature if plan.temperature is not None else r.temperature,
        "top_p": r.top_p,
        "seed": job.seed,
    }


def _answer(job: Job, done: dict[str, Any]) -> Answer:
    r, usage, choice = job.request, done["usage"], done["choices"][0]
    return Answer(
        "job",
        "node",
        [{"role": m.role, "content": m.content} for m in r.messages],
        r.temperature,
        r.top_p,
        job.max_tokens,
        [],
        choice["message"]["content"],
        choice["finish_reason"],
        Usage(usage["prompt_tokens"], usage["completion_tokens"]),
    )


def _load(path: Path) -> list[tuple[Answer, float]]:
    found = []
    for item in json.loads(path.read_text()):
        fields = {**item["answer"], "usage": Usage(**item["answer"]["usage"])}
        found.append((Answer(**fields), float(item["took"])))
    return found


async def answer_all(
    plan: NodePlan, models: dict[str, Path], jobs: list[Job], out: Path
) -> list[tuple[Answer, float]]:
    """The node's reported answers to `jobs`, each with the seconds its engine took;
    kept in `out` (answers-*.json), so a second run re-scores them without the engines."""
    if plan.tamper is not None:  # the honest node's own answers, changed after the fact
        rng = random.Random(5)
        base = await answer_all(NODES[0], models, jobs, out)
        return [(plan.tamper(answer, rng), took) for answer, took in base]
    slug = re.sub(r"[^a-z0-9]+", "_", plan.name.lower()).strip("_")
    kept = out / f"answers-{slug}-{len(jobs)}.json"
    if kept.exists():
        return _load(kept)
    answers = await _generate(plan, models, jobs, out / f"node-{slug}.log")
    kept.write_text(json.dumps([{"answer": asdict(a), "took": t} for a, t in answers]))
    return answers


async def _generate(
    plan: NodePlan, models: dict[str, Path], jobs: list[Job], log: Path
) -> list[tuple[Answer, float]]:
    launch = engine_plan(models[plan.model], free_port(), threads=plan.threads)
    launch = replace(launch, argv=launch.argv + plan.engine_args)
    engine = EngineProcess.start(launch, log, title="a benchmark node's engine")
    answers = []
    try:
        await engine.wait_ready()
        async with httpx.AsyncClient(base_url=engine.url, timeout=300) as client:
            for job in jobs:
                started = time.perf_counter()
                done = (await client.post("/v1/chat/completions", json=_body(plan, job))).json()
                took = time.perf_counter() - started
                answers.append((_answer(job, done), took))
    finally:
        engine.stop()
    return answers
