"""FedAvg of LoRA adapters (train/fedavg.py) is exact: the merged adapter changes every
weight by the shard-size-weighted average of what each node's adapter changes it by,
and PEFT loads it like any adapter (so `infernet publish` merges it unchanged)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from infernet.train.basemodel import library_noise_off
from tests.train.conftest import needs_train_extra

needs_train_extra()
torch = pytest.importorskip("torch")


def tiny_base() -> object:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    return LlamaForCausalLM(config)


def train_config(rank: int) -> object:
    from infernet.train.config import parse_config

    return parse_config(
        {
            "name": "tiny",
            "base_model": "org/tiny",
            "input": {"dataset": "x.jsonl"},
            "lora": {"rank": rank, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        },
        "test",
    )


def deltas(base: object, adapter: Path) -> dict[str, object]:
    """How much the adapter changes each base weight (merged minus base)."""
    from peft import PeftModel

    before = {k: v.clone() for k, v in base.state_dict().items()}  # type: ignore[attr-defined]
    merged = PeftModel.from_pretrained(copy.deepcopy(base), str(adapter)).merge_and_unload()
    return {k: v - before[k] for k, v in merged.state_dict().items() if "proj" in k}


def test_the_merged_adapter_is_the_shard_weighted_average_of_the_updates(tmp_path: Path) -> None:
    with library_noise_off():
        check_merge(tmp_path)


def check_merge(tmp_path: Path) -> None:
    from peft import get_peft_model

    from infernet.train.fedavg import ADAPTER_FILE, merge_adapters
    from infernet.train.runner import lora_config

    config = train_config(rank=2)
    base = tiny_base()
    adapters, sizes = [], [1, 2, 5]
    for i, size in enumerate(sizes):
        torch.manual_seed(i + 1)
        model = get_peft_model(copy.deepcopy(base), lora_config(config))
        for name, param in model.named_parameters():
            if "lora_B" in name:  # trained adapters have B != 0
                param.data.normal_()
        folder = tmp_path / f"node{i}"
        model.save_pretrained(str(folder))
        adapters.append((folder / ADAPTER_FILE, size))
    merge_adapters(adapters, config, tmp_path / "final")

    saved = json.loads((tmp_path / "final" / "adapter_config.json").read_text())
    assert saved["r"] == 6 and saved["lora_alpha"] == 24  # rank and alpha x 3 adapters
    expected: dict[str, object] = {}
    for (path, _), share in zip(adapters, [s / sum(sizes) for s in sizes], strict=True):
        for key, delta in deltas(base, path.parent).items():
            expected[key] = expected.get(key, 0) + share * delta  # type: ignore[operator]
    merged = deltas(base, tmp_path / "final")
    changed = [k for k, v in merged.items() if v.abs().max() > 0]  # type: ignore[attr-defined]
    assert changed and all("q_proj" in k or "v_proj" in k for k in changed)
    for key, delta in merged.items():
        assert torch.allclose(delta, expected[key], atol=1e-5), key  # type: ignore[arg-type]


def test_averaging_a_and_b_separately_would_not_be_fedavg() -> None:
    """Why fedavg.py stacks: the mean of products is not the product of the means."""
    torch.manual_seed(0)
    a = [torch.randn(2, 4) for _ in range(2)]
    b = [torch.randn(4, 2) for _ in range(2)]
    exact = (b[0] @ a[0] + b[1] @ a[1]) / 2
    naive = ((b[0] + b[1]) / 2) @ ((a[0] + a[1]) / 2)
    assert not torch.allclose(exact, naive, atol=1e-3)
