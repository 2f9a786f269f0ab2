"""The submitter's dataset cut into shards for `train run --open-market`: every line is
checked first (errors name the line), then the lines are shuffled with the run's seed
(so each shard is a fair sample of the whole, which FedAvg assumes) and dealt into
`count` shards of near-equal size. The same file and seed always give the same shards,
so an interrupted upload can be resumed."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from infernet.train.dataset import load_examples
from infernet.train.errors import DataError

MIN_SHARD_EXAMPLES = 2  # one to train on, one held out for the verifier (as the control plane)


@dataclass(frozen=True)
class Shard:
    data: bytes
    examples: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def split_shards(path: Path, count: int, seed: int) -> list[Shard]:
    load_examples(path)  # validates every line
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    most = len(lines) // MIN_SHARD_EXAMPLES
    if count > most:
        raise DataError(
            f"{path} has {len(lines)} lines: enough for at most {most} shards of "
            f"{MIN_SHARD_EXAMPLES} (each holds some out for the verifier); ask for fewer shards"
        )
    random.Random(seed).shuffle(lines)
    size, extra = divmod(len(lines), count)
    shards, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        chunk = lines[start:end]
        shards.append(Shard(("\n".join(chunk) + "\n").encode(), len(chunk)))
        start = end
    return shards
