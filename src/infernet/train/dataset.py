"""Reading a ChatML JSONL dataset for training, with errors that name the line.

Each line needs `messages`: a list of `{role, content}` (roles system, user, assistant)
ending with the assistant's turn. Training sees it as prompt (every message but the last)
and completion (the last), so the loss is on what the assistant says, not on the question.
The held-out share (`input.validation_split`) is drawn with the run's seed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infernet.train.errors import DataError

_ROLES = {"system", "user", "assistant"}

Example = dict[str, list[dict[str, str]]]  # {"prompt": [...], "completion": [...]}


@dataclass(frozen=True)
class Split:
    train: list[Example]
    eval: list[Example]


def _messages(line: str, where: str) -> list[dict[str, str]]:
    try:
        record: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON ({exc.msg})") from exc
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or len(messages) < 2:
        raise DataError(f'{where}: needs "messages", a list of at least 2 messages')
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise DataError(f"{where}: each message needs a role (system, user or assistant)")
        if not isinstance(message.get("content"), str):
            raise DataError(f'{where}: each message needs a string "content"')
    if messages[-1]["role"] != "assistant":
        raise DataError(f"{where}: the last message must be the assistant's")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def load_examples(path: Path) -> list[Example]:
    if not path.is_file():
        raise DataError(
            f"input.dataset {path} not found: make one with `infernet train data` "
            "or point input.dataset at a ChatML JSONL file"
        )
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            messages = _messages(line, f"{path}:{number}")
            examples.append({"prompt": messages[:-1], "completion": messages[-1:]})
    if not examples:
        raise DataError(f"input.dataset {path} has no lines")
    return examples


def split(examples: list[Example], share: float, seed: int) -> Split:
    """Hold out `share` of the examples (at least one when share > 0 and there are two)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held = round(len(examples) * share)
    held = max(held, 1) if share > 0 and len(examples) > 1 else held
    held = min(held, len(examples) - 1)
    chosen = set(order[:held])
    return Split(
        train=[e for i, e in enumerate(examples) if i not in chosen],
        eval=[e for i, e in enumerate(examples) if i in chosen],
    )
