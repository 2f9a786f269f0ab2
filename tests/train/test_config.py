"""`infernet train init` and infernet.train.yml: the Book's keys, validated by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infernet.train.config import load_config, parse_config
from infernet.train.errors import TrainConfigError
from tests.train.conftest import infernet


def test_init_writes_every_book_key_and_loads_back(tmp_path: Path) -> None:
    done = infernet("train", "init", "--output", str(tmp_path / "run"), "--name", "zorb")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "run" / "infernet.train.yml").read_text()
    data = yaml.safe_load(text)
    assert set(data) >= {"name", "base_model", "method", "runtime", "workload_class"}
    assert set(data["input"]) == {"dataset", "format", "validation_split"}
    assert set(data["training"]) >= {
        "epochs", "learning_rate", "batch_size", "gradient_accumulation_steps", "max_seq_len"
    }  # fmt: skip
    assert set(data["lora"]) == {"rank", "alpha", "target_modules"}
    assert set(data["resources"]) == {"min_vram_gb", "max_runtime_hours"}
    assert "# " in text  # each key says what it does
    config = load_config(tmp_path / "run")
    assert (config.name, config.input.format, config.runtime) == ("zorb", "chatml", "trl")


def test_init_does_not_overwrite_without_force(tmp_path: Path) -> None:
    assert infernet("train", "init", "--output", str(tmp_path)).returncode == 0
    again = infernet("train", "init", "--output", str(tmp_path))
    assert again.returncode == 3
    assert "--force" in again.stderr
    assert infernet("train", "init", "--output", str(tmp_path), "--force").returncode == 0


def _valid() -> dict[str, object]:
    return {"name": "x", "base_model": "m.gguf", "input": {"dataset": "d.jsonl"}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"training": {"learning_rate": -1}}, "training.learning_rate: input should be greater"),
        ({"training": {"epoch": 2}}, "training.epoch: unknown key (did you mean 'epochs'?)"),
        ({"lora": {"rank": 0}}, "lora.rank: input should be greater than or equal to 1"),
        ({"method": "full"}, "method: input should be 'lora' or 'qlora'"),
        ({"runtime": "microgpt"}, "runtime: input should be 'trl', 'unsloth' or 'axolotl'"),
        ({"input": {"dataset": "d", "format": "alpaca"}}, "input.format: input should be 'chatml'"),
        ({"input": {"dataset": "d", "validation_split": 1.5}}, "input.validation_split"),
        ({"resources": {"max_runtime_hours": 0}}, "resources.max_runtime_hours"),
        ({"name": "has spaces"}, "name: string should match pattern"),
    ],
)
def test_invalid_values_name_the_key(change: dict[str, object], message: str) -> None:
    with pytest.raises(TrainConfigError) as error:
        parse_config({**_valid(), **change}, "infernet.train.yml")
    assert message in str(error.value)


def test_missing_keys_are_named() -> None:
    with pytest.raises(TrainConfigError) as error:
        parse_config({"name": "x"}, "f.yml")
    assert "base_model: missing (required)" in str(error.value)
    assert "input: missing (required)" in str(error.value)


def test_run_with_a_broken_config_exits_3_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "infernet.train.yml").write_text(
        yaml.safe_dump({**_valid(), "training": {"batch_size": "four"}})
    )
    done = infernet("train", "run", "--local", str(tmp_path))
    assert done.returncode == 3
    assert "training.batch_size" in done.stderr


def test_run_without_a_config_says_how_to_make_one(tmp_path: Path) -> None:
    done = infernet("train", "run", "--local", str(tmp_path))
    assert done.returncode == 3
    assert "infernet train init" in done.stderr
