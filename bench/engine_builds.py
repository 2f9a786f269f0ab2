"""Tokens/s of SmolLM2 on llama.cpp builds side by side: the project's portable build
against others (e.g. GGML_NATIVE=ON), same model, prompt and thread count.

    python -m bench.engine_builds [--rounds 5] [--threads 2] [--tokens 128]
        [--build NAME=DIR ...]

`--build NAME=DIR` adds a llama-cpp-python installed under DIR (`pip install --target DIR
WHEEL`); the build installed in this environment is always "portable". Each measurement is
a fresh child process that loads the model, warms up, then reads llama.cpp's own timers
(`llama_perf_context`): prompt processing and generation tokens/s, without load time or
HTTP. Rounds alternate the builds (order rotating) so that a busy machine slows each
alike. A build that crashes is reported with how it died.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from infernet.backends.engine_process import exit_reason

PROMPT = "Write a long story about a lighthouse keeper and the sea. " * 12


def child(tokens: int, threads: int) -> None:
    """Measure once in this process and print one JSON line."""
    import llama_cpp

    from infernet.engine.launch import find_smollm2

    llm = llama_cpp.Llama(
        model_path=str(find_smollm2()), n_ctx=1024, n_threads=threads, verbose=False
    )
    prompt = llm.tokenize(PROMPT.encode())
    for attempt in ("warm-up", "measured"):
        llm.reset()
        llama_cpp.llama_perf_context_reset(llm.ctx)
        for i, _ in enumerate(llm.generate(prompt, temp=0.0)):  # greedy; EOS does not stop it
            if i + 1 == (8 if attempt == "warm-up" else tokens):
                break
    perf = llama_cpp.llama_perf_context(llm.ctx)
    print(
        json.dumps(
            {
                "prefill_tps": perf.n_p_eval / perf.t_p_eval_ms * 1000,
                "decode_tps": perf.n_eval / perf.t_eval_ms * 1000,
                "prompt_tokens": perf.n_p_eval,
                "generated": perf.n_eval,
                "system_info": llama_cpp.llama_print_system_info().decode().strip(),
            }
        )
    )


def measure(site: str, tokens: int, threads: int) -> dict[str, object]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH", "")) if p)
    argv = [sys.executable, "-m", "bench.engine_builds", "--child"]
    argv += ["--tokens", str(tokens), "--threads", str(threads)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        return {"failed": exit_reason(done.returncode), "stderr": done.stderr[-300:]}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):7.1f} ({min(values):.1f}–{max(values):.1f})"


def report(builds: dict[str, str], runs: dict[str, list[dict[str, object]]]) -> None:
    base = [float(str(r["decode_tps"])) for r in runs["portable"] if "decode_tps" in r]
    print("build            prefill tok/s median (min–max)   generation tok/s median (min–max)")
    for name in builds:
        ok = [r for r in runs[name] if "decode_tps" in r]
        failed = [str(r["failed"]) for r in runs[name] if "failed" in r]
        prefill = [float(str(r["prefill_tps"])) for r in ok]
        decode = [float(str(r["decode_tps"])) for r in ok]
        ratio = ""
        if decode and base:
            ratio = f"  ×{statistics.median(decode) / statistics.median(base):.2f} of portable"
        line = f"{name:<16} {summary(prefill):<32} {summary(decode)}{ratio}"
        if failed:
            line += f"  {len(failed)} of {len(runs[name])} runs {failed[0]}"
        print(line)
    for name in builds:
        info = next((str(r["system_info"]) for r in runs[name] if "system_info" in r), "")
        print(f"{name}: {info or 'no run finished'}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_builds", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tokens", type=int, default=128, help="tokens generated per run")
    parser.add_argument("--build", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.tokens, args.threads)
        return
    builds = {"portable": ""}
    for spec in args.build:
        name, _, site = spec.partition("=")
        if not (site and Path(site, "llama_cpp").is_dir()):
            parser.error(f"--build {spec}: expected NAME=DIR with DIR/llama_cpp installed")
        builds[name] = site
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in builds}
    names = list(builds)
    for round_no in range(args.rounds):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        for name in order:
            runs[name].append(measure(builds[name], args.tokens, args.threads))
        print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    print(f"SmolLM2-135M Q4_1, {args.threads} threads, {args.tokens} tokens, {args.rounds} rounds")
    report(builds, runs)


if __name__ == "__main__":
    main()
