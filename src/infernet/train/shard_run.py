"""`python -m infernet.train.shard_run FOLDER`: a node trains one claimed shard, with the
code of `infernet train run --local` (runner.run_local), in a process of its own so the
daemon keeps serving inference and heartbeats meanwhile (node/shard_trainer.py starts it).

FOLDER holds `infernet.train.yml` (the job's frozen settings, dataset `shard.jsonl`) and
the shard. On success it also holds `checkpoint-final/` and `result.json`:
`{"eval_loss_before", "eval_loss_after", "steps"}`, the eval loss of the shard's
held-out lines before and after training, which the node reports and the control
plane's verifier reproduces. Exit 0 on success, 1 with the reason on stderr otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from infernet.train.errors import TrainError

RESULT = "result.json"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(args[0])
    from infernet.train.runner import run_local

    console = Console(file=sys.stdout, width=120, highlight=False)
    try:
        outcome = run_local(folder, console, restart=True)
    except TrainError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if outcome.stopped is not None:
        print(f"training stopped: {outcome.stopped}", file=sys.stderr)
        return 1
    if outcome.eval_before is None or outcome.eval_after is None:
        print("the shard has no held-out lines to report a loss on", file=sys.stderr)
        return 1
    result = {
        "eval_loss_before": outcome.eval_before,
        "eval_loss_after": outcome.eval_after,
        "steps": outcome.steps,
    }
    partial = folder / (RESULT + ".part")
    partial.write_text(json.dumps(result), encoding="utf-8")
    partial.replace(folder / RESULT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
