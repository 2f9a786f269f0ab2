"""`infernet train run --local`: one LoRA fine-tune on this machine, start to finish.

Settings → base model and dataset resolved → run folder prepared (`rundir.py`) → the
runtime's trainer (TRL's SFTTrainer with a PEFT adapter; Unsloth's loader first when
`runtime: unsloth`) → eval loss before and after → `checkpoint-final/` → `README.md`.
A stop (Ctrl-C, runtime limit) leaves `checkpoints/checkpoint-N/` and returns early.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from infernet.train import basemodel, dataset
from infernet.train.config import TrainConfig, load_config
from infernet.train.errors import RunError
from infernet.train.filehash import file_sha256
from infernet.train.report import Sample, write_readme
from infernet.train.rundir import RunPaths, freeze, prepare
from infernet.train.runtimes import check_resources, check_runtime, cuda_available

SAVE_EVERY_STEPS = 50


@dataclass
class RunOutcome:
    paths: RunPaths
    steps: int = 0
    max_steps: int = 0
    stopped: str | None = None  # why it stopped early (a checkpoint was saved)
    checkpoint: Path | None = None
    losses: list[float] = field(default_factory=list)
    eval_before: float | None = None
    eval_after: float | None = None
    sample: Sample | None = None


def quiet_libraries() -> None:
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()


def lora_config(config: TrainConfig) -> Any:
    """PEFT's LoraConfig for the settings' `lora` section."""
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora.rank,
        lora_alpha=config.lora.alpha,
        target_modules=list(config.lora.target_modules),
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )


def _load(config: TrainConfig, ref: basemodel.BaseModelRef) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config or None when the runtime already attached LoRA)."""
    lora = lora_config(config)
    if config.runtime == "unsloth":
        return _load_unsloth(config, ref)
    kwargs: dict[str, Any] = {}
    if config.method == "qlora":
        if ref.kind == "gguf":
            raise RunError("method: qlora needs a Hugging Face base_model, not a GGUF file")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True)
    return basemodel.load_model(ref, **kwargs), basemodel.load_tokenizer(ref), lora


def _load_unsloth(config: TrainConfig, ref: basemodel.BaseModelRef) -> tuple[Any, Any, Any]:
    if ref.kind == "gguf":
        raise RunError("runtime: unsloth needs a Hugging Face base_model, not a GGUF file")
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=ref.location,
        max_seq_length=config.training.max_seq_len,
        load_in_4bit=config.method == "qlora",
    )
    model = FastLanguageModel.get_peft_model(
        model,
        r=config.lora.rank,
        lora_alpha=config.lora.alpha,
        target_modules=list(config.lora.target_modules),
        random_state=config.training.seed,
    )
    return model, tokenizer, None


def build_trainer(config: TrainConfig, paths: RunPaths, split: dataset.Split, loaded: Any) -> Any:
    """The runtime's trainer over `split`, for `loaded` = (model, tokenizer, LoRA config or
    None when the model carries its adapter already)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model, tokenizer, lora = loaded
    t = config.training
    on_gpu = cuda_available()
    args = SFTConfig(
        output_dir=str(paths.checkpoints),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        max_length=t.max_seq_len,
        seed=t.seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=SAVE_EVERY_STEPS,
        save_total_limit=2,
        eval_strategy="no",  # eval loss before and after (`_train`), not per epoch
        report_to=[],
        disable_tqdm=True,
        use_cpu=not on_gpu,
        bf16=on_gpu and _bf16_ok(),
        activation_checkpointing=False,
    )
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(split.train),
        eval_dataset=Dataset.from_list(split.eval) if split.eval else None,
        processing_class=tokenizer,
        peft_config=lora,
    )


def _bf16_ok() -> bool:
    import torch

    return bool(torch.cuda.is_bf16_supported())


def run_local(
    root: Path, console: Console, *, resume: bool = False, restart: bool = False
) -> RunOutcome:
    config = load_config(root)
    check_runtime(config)
    check_resources(config)
    if config.workload_class != "C1":
        console.print(
            f"Note: workload_class {config.workload_class} is for the network; --local runs here."
        )
    paths = RunPaths(root)
    ref = basemodel.resolve_base(config.base_model, root)
    data_path = config.resolve(config.input.dataset, root)
    examples = dataset.load_examples(data_path)
    split = dataset.split(examples, config.input.validation_split, config.training.seed)
    frozen = freeze(config, ref, data_path, file_sha256(data_path))
    frozen["resolved"]["dataset"].update(train=len(split.train), eval=len(split.eval))
    checkpoint = prepare(paths, frozen, resume=resume, restart=restart)
    console.print(f"Base model: {basemodel.describe(ref)}")
    console.print(f"Dataset: {data_path} ({len(split.train)} train, {len(split.eval)} eval)")
    quiet_libraries()
    with basemodel.library_noise_off():
        return _train(config, paths, split, ref, checkpoint, console)


def _train(
    config: TrainConfig,
    paths: RunPaths,
    split: dataset.Split,
    ref: basemodel.BaseModelRef,
    checkpoint: Path | None,
    console: Console,
) -> RunOutcome:
    from transformers import PrinterCallback

    from infernet.train.callbacks import (
        MetricsCallback,
        ProgressCallback,
        StopCallback,
        StopRequest,
        ctrl_c_stops,
    )

    console.print("Loading the base model...")
    trainer = build_trainer(config, paths, split, _load(config, ref))
    stop = StopRequest()
    trainer.remove_callback(PrinterCallback)  # our bar and metrics.jsonl say it instead
    for callback in (MetricsCallback(paths.metrics), ProgressCallback(console)):
        trainer.add_callback(callback)
    trainer.add_callback(StopCallback(stop, config.resources.max_runtime_hours * 3600))
    outcome = RunOutcome(paths)
    if checkpoint is None and split.eval:
        outcome.eval_before = float(trainer.evaluate()["eval_loss"])
    with ctrl_c_stops(stop, console):
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    state = trainer.state
    outcome.steps, outcome.max_steps = state.global_step, state.max_steps
    outcome.losses = [float(e["loss"]) for e in state.log_history if "loss" in e]
    if stop.reason is not None:
        outcome.stopped, outcome.checkpoint = stop.reason, paths.latest_checkpoint()
        return outcome
    if split.eval:
        outcome.eval_after = float(trainer.evaluate()["eval_loss"])
    outcome.sample = Sample.compare(trainer.model, trainer.processing_class, split)
    _save_final(trainer, paths.final)
    write_readme(paths, config, ref, outcome)
    shutil.rmtree(paths.checkpoints, ignore_errors=True)
    return outcome


def _save_final(trainer: Any, final: Path) -> None:
    """The adapter and tokenizer, written beside and then renamed into place."""
    partial = final.with_name(final.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    trainer.model.save_pretrained(str(partial))
    trainer.processing_class.save_pretrained(str(partial))
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
