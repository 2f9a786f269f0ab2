"""`infernet train run --local`: a real LoRA fine-tune on the CPU and what it leaves behind
(Book §9.4: the frozen config, metrics.jsonl, README.md, checkpoint-final/ in HF layout).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.train.conftest import TRAIN_STEPS, infernet, make_run, zorblax_lines

pytestmark = pytest.mark.timeout(900)  # a real fine-tune on the CPU


def _metrics(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_loss_goes_down_step_by_step_in_metrics_jsonl(trained_run: Path) -> None:
    steps = [m for m in _metrics(trained_run) if "loss" in m]
    assert [m["step"] for m in steps] == list(range(1, TRAIN_STEPS + 1))
    assert all({"learning_rate", "epoch", "time"} <= set(m) for m in steps)
    first, last = steps[0]["loss"], steps[-1]["loss"]
    assert last < first * 0.8, (first, last)


def test_eval_loss_on_held_out_lines_drops(trained_run: Path) -> None:
    evals = [m for m in _metrics(trained_run) if "eval_loss" in m]
    assert [m["step"] for m in evals] == [0, TRAIN_STEPS]
    assert evals[1]["eval_loss"] < evals[0]["eval_loss"]


def test_checkpoint_final_is_a_peft_adapter_in_hf_layout(trained_run: Path) -> None:
    final = trained_run / "checkpoint-final"
    adapter = json.loads((final / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["r"] == 8
    assert set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    for name in ("adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (final / name).is_file(), name
    assert not (trained_run / "checkpoints").exists()  # finished: no resumable state left


def test_frozen_config_records_what_the_run_used(trained_run: Path) -> None:
    frozen = yaml.safe_load((trained_run / "infernet.train.frozen.yml").read_text())
    settings = yaml.safe_load((trained_run / "infernet.train.yml").read_text())
    assert frozen["training"]["max_steps"] == settings["training"]["max_steps"]
    resolved = frozen["resolved"]
    assert resolved["base_model"]["kind"] == "gguf"
    assert len(resolved["base_model"]["sha256"]) == 64
    assert len(resolved["dataset"]["sha256"]) == 64
    assert resolved["dataset"]["train"] + resolved["dataset"]["eval"] == 30
    assert resolved["libraries"]["trl"] and resolved["libraries"]["peft"]


def test_readme_says_what_was_trained_and_the_result(trained_run: Path) -> None:
    readme = (trained_run / "README.md").read_text()
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in readme
    assert "../train.jsonl" in readme and f"{TRAIN_STEPS} steps" in readme
    assert "| training loss |" in readme and "| eval loss (held-out lines) |" in readme
    base, tuned = readme.split("Base model:")[1].split("Fine-tuned:")
    assert "A held-out prompt" in readme
    assert base.strip() and tuned.split("## Next")[0].strip() != base.strip()


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"runtime": "unsloth"}, 3, "pip install unsloth"),
        ({"runtime": "axolotl"}, 3, "pip install axolotl"),
        ({"method": "qlora"}, 3, "method: qlora"),
        ({"base_model": "no-such-model"}, 3, "base_model: 'no-such-model'"),
        ({"resources": {"min_vram_gb": 24, "max_runtime_hours": 1}}, 1, "min_vram_gb is 24"),
    ],
)
def test_what_cannot_run_here_says_why(
    tmp_path: Path, change: dict[str, str], code: int, message: str
) -> None:
    pytest.importorskip("trl")
    run = make_run(tmp_path, zorblax_lines(4))
    path = run / "infernet.train.yml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **change}))
    done = infernet("train", "run", "--local", str(run))
    assert done.returncode == code, done.stderr
    assert message in done.stderr


def test_a_hub_base_that_cannot_be_fetched_says_so(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    run = make_run(tmp_path, zorblax_lines(4))
    path = run / "infernet.train.yml"
    config = {**yaml.safe_load(path.read_text()), "base_model": "HuggingFaceTB/SmolLM2-135M"}
    path.write_text(yaml.safe_dump(config))
    done = infernet("train", "run", "--local", str(run), env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1
    assert "not in the local Hugging Face cache" in done.stderr
    assert "huggingface.co" in done.stderr


def test_a_bad_dataset_line_is_named(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    run = make_run(tmp_path, [*zorblax_lines(2), '{"messages": [{"role": "user"}]}'])
    done = infernet("train", "run", "--local", str(run))
    assert done.returncode == 1
    assert "train.jsonl:3" in done.stderr


def test_without_local_it_says_the_network_part_is_not_built(tmp_path: Path) -> None:
    done = infernet("train", "run", str(tmp_path))
    assert done.returncode == 1
    assert "--local" in done.stderr
