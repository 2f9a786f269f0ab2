"""`python -m bench.relay_cpu [--concurrency 32] [--chunks 64] [--rounds 3]`: what one
relayed job costs.

A fake engine, a control plane and a node, each its own process (as in row 2); `rounds`
rounds (more for a steadier figure) of `concurrency` clients, 5 streamed requests each,
through `/v1/chat/completions`, then the same straight to the engine. Prints the relayed
and direct throughput and TTFT and each process's CPU seconds during the relayed rounds
(from /proc), so a change to the relay shows up as CPU per job even on a machine too busy
for its wall times to mean much, and the read and write system calls of the control plane
and the node per job (/proc/PID/io: socket sends and receives, SQLite's file writes, a
thread's wake-ups), which count how often tokens travel one by one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from tempfile import mkdtemp

from bench import procs
from bench.load import Target, interleaved, json_headers, openai_body
from bench.row_relay import PROMPT, ours_target
from bench.stats import cpu_seconds, syscalls


async def measure(concurrency: int, chunks: int, rounds: int, work: Path) -> None:
    engine, port = await procs.fake_engine(work, chunks)
    net = await procs.network(work, f"http://127.0.0.1:{port}", nodes=1, slots=concurrency)
    try:
        ours = ours_target(net, chunks)
        body = openai_body(net.model, chunks, PROMPT)
        direct = Target("direct", port, "/v1/chat/completions", body, "openai", json_headers())
        await interleaved([ours], 1, 0)  # warm
        pids = {"control plane": net.control_plane.pid, "node": net.nodes.pid, "engine": engine.pid}
        before = {name: cpu_seconds(pid) or 0.0 for name, pid in pids.items()}
        calls_before = {name: syscalls(pid) for name, pid in pids.items()}
        client, started = sum(os.times()[:2]), time.perf_counter()
        relayed = (await interleaved([ours], concurrency, rounds, 5))["ours"]
        wall = time.perf_counter() - started
        cpu = {name: (cpu_seconds(pid) or 0.0) - before[name] for name, pid in pids.items()}
        calls = {
            name: [
                after - was for after, was in zip(syscalls(pid), calls_before[name], strict=True)
            ]
            for name, pid in pids.items()
        }
        cpu["client"] = sum(os.times()[:2]) - client
        straight = (await interleaved([direct], concurrency, rounds, 5))["direct"]
    finally:
        await net.stop()
        await engine.stop()
    jobs = len(relayed.ttfts)
    print(f"concurrency {concurrency}, {chunks} chunks, {jobs} relayed jobs in {wall:.1f} s")
    for name, got in (("relayed", relayed), ("direct", straight)):
        print(
            f"  {name}: {got.tokens_per_s:,.0f} tok/s, TTFT p50 {got.p50 * 1000:.1f} ms, "
            f"p99 {got.p99 * 1000:.1f} ms, {got.errors} errors"
        )
    print(f"  throughput ×{relayed.tokens_per_s / straight.tokens_per_s:.3f} of direct")
    for name, seconds in cpu.items():
        line = f"  {name}: {seconds:.2f} CPU s, {seconds / jobs * 1000:.2f} ms per relayed job"
        reads, writes = calls.get(name, (0, 0))
        if reads or writes:  # /proc/PID/io: readable for the processes this one started
            line += f", {reads / jobs:.1f} read and {writes / jobs:.1f} write calls per job"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_cpu")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(mkdtemp(prefix="relay-cpu-"))
    asyncio.run(measure(args.concurrency, args.chunks, args.rounds, work))


if __name__ == "__main__":
    main()
