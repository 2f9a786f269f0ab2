"""The run's `README.md`: what was trained, on what, with what result, and what to do next.

The result is measured, never assumed: training loss first and last step, eval loss before
and after on the held-out lines, and one held-out prompt answered greedily by the base
model and by the fine-tuned one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infernet.train.basemodel import BaseModelRef, describe
from infernet.train.config import CONFIG_NAME, TrainConfig

if TYPE_CHECKING:
    from infernet.train.dataset import Split
    from infernet.train.runner import RunOutcome

SAMPLE_TOKENS = 32


def generate(model: Any, tokenizer: Any, prompt: list[dict[str, str]]) -> str:
    """Greedy answer to `prompt` (a message list), new text only."""
    import torch

    inputs = tokenizer.apply_chat_template(
        prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    with torch.no_grad():
        output = model.generate(
            **inputs,
            max_new_tokens=SAMPLE_TOKENS,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = output[0][inputs["input_ids"].shape[1] :]
    return str(tokenizer.decode(new, skip_special_tokens=True))


@dataclass(frozen=True)
class Sample:
    prompt: str
    base: str
    tuned: str
    held_out: bool

    @classmethod
    def compare(cls, model: Any, tokenizer: Any, split: Split) -> Sample:
        """The first held-out prompt (or the first training one when none is held out),
        answered with the adapter switched off and on."""
        example = (split.eval or split.train)[0]
        model.eval()
        with model.disable_adapter():
            base = generate(model, tokenizer, example["prompt"])
        tuned = generate(model, tokenizer, example["prompt"])
        return cls(example["prompt"][-1]["content"], base, tuned, bool(split.eval))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in (text.strip() or "(empty)").splitlines())


def render_readme(config: TrainConfig, base: BaseModelRef, outcome: RunOutcome) -> str:
    t, lo = config.training, config.lora
    losses = outcome.losses
    lines = [
        f"# {config.name}",
        "",
        f"A LoRA adapter for {describe(base)}, trained by `infernet train run --local` "
        f"with runtime `{config.runtime}` (method `{config.method}`).",
        "",
        "## Trained on",
        "",
        f"- Dataset: `{config.input.dataset}` ({config.input.format}); settings as run: "
        f"`infernet.train.frozen.yml` (edit `{CONFIG_NAME}` for the next run)",
        f"- {outcome.steps} steps; epochs {t.epochs:g}, learning rate {t.learning_rate:g}, "
        f"batch {t.batch_size} x {t.gradient_accumulation_steps} accumulation, "
        f"max {t.max_seq_len} tokens",
        f"- LoRA rank {lo.rank}, alpha {lo.alpha:g}, on {', '.join(lo.target_modules)}",
        "",
        "## Result",
        "",
        "| | first step | last step |",
        "|---|---|---|",
        f"| training loss | {_fmt(losses[0] if losses else None)} | "
        f"{_fmt(losses[-1] if losses else None)} |",
        f"| eval loss (held-out lines) | {_fmt(outcome.eval_before)} | "
        f"{_fmt(outcome.eval_after)} |",
        "",
        "Per-step numbers: `metrics.jsonl`.",
    ]
    if outcome.sample is not None:
        s = outcome.sample
        kind = "A held-out prompt" if s.held_out else "A training prompt (no lines were held out)"
        lines += ["", f"{kind}, answered greedily:", "", _quote(s.prompt), "", "Base model:", ""]
        lines += [_quote(s.base), "", "Fine-tuned:", "", _quote(s.tuned)]
    lines += [
        "",
        "## Next",
        "",
        "`checkpoint-final/` holds the adapter (Hugging Face PEFT layout). "
        "`infernet publish` merges it into the base model, converts it to GGUF and "
        "quantizes it; `infernet model install` then serves it on a node.",
        "",
    ]
    return "\n".join(lines)


def write_readme(paths: Any, config: TrainConfig, base: BaseModelRef, outcome: RunOutcome) -> None:
    paths.readme.write_text(render_readme(config, base, outcome), encoding="utf-8")
