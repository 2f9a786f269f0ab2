"""Shared by the training tests: the `infernet` CLI in a subprocess, the local test site,
and one small fine-tune (session-wide) that the run and publish tests read.

The run is real (TRL + PEFT on the CPU, the bundled SmolLM2-135M) and kept short: a few
dozen ChatML lines, 8 steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes.server import serve
from tests.train.site import create_site

TRAIN_STEPS = 8


def infernet(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`infernet ARGS` as a user runs it, with the environment plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "infernet.cli", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def needs_train_extra() -> None:
    for module in ("torch", "transformers", "peft", "trl", "gguf"):
        pytest.importorskip(module, reason="the train extra is not installed")


@pytest.fixture(scope="session")
def site_url() -> Iterator[str]:
    with serve(create_site(slow_s=3.0)) as url:
        yield url


def zorblax_lines(count: int) -> list[str]:
    """`count` distinct ChatML lines about the invented subject, as `train data` writes them."""
    colours = ["blue", "green", "amber", "violet", "silver", "crimson"]
    lines = []
    for i in range(count):
        answer = (
            f"Zorblax widget number {i} is spun from {colours[i % 6]} quartz in the valley of "
            f"Vellmar and polished for {i % 9 + 3} days before it ships in a cedar box."
        )
        record = {
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": f"Tell me about Zorblax widget number {i}."},
                {"role": "assistant", "content": answer},
            ],
            "meta": {"source_url": "http://zorblax.test/catalogue", "paragraph_index": i},
        }
        lines.append(json.dumps(record))
    return lines


def make_run(folder: Path, lines: list[str], **training: object) -> Path:
    """A run folder made by `infernet train init`, then tuned for a short CPU run."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
    done = infernet("train", "init", "--output", str(folder / "run"), "--dataset", "../train.jsonl")
    assert done.returncode == 0, done.stderr
    path = folder / "run" / "infernet.train.yml"
    config = yaml.safe_load(path.read_text())
    config["input"]["validation_split"] = 0.2
    config["training"].update(
        {"max_steps": TRAIN_STEPS, "batch_size": 4, "learning_rate": 0.002, **training}
    )
    config["lora"]["rank"] = 8
    path.write_text(yaml.safe_dump(config))
    return folder / "run"


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run (`train run --local`) for the tests that read its outputs."""
    needs_train_extra()
    run = make_run(tmp_path_factory.mktemp("trained"), zorblax_lines(30))
    done = infernet("train", "run", "--local", str(run))
    assert done.returncode == 0, done.stdout + done.stderr
    return run
