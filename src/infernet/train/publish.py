"""`infernet publish` as a function (Book §9.5): `checkpoint-final` → merged model → F16
GGUF → quantized GGUF → Modelfile → Hugging Face upload → `ollama create` + `push`.

Everything lands in `RUN/publish/`: `NAME.f16.gguf`, `NAME.<quant>.gguf`, `Modelfile`,
`README.md` (the run's) and `adapter/` (the LoRA adapter). The files are named after the
run (`name` in infernet.train.yml), since a llama.cpp node serves a GGUF under its file
name. The Hub gets everything but the F16 file (unless it is the one asked for) and the
merged folder. An Ollama push needs a namespaced name (`you/name`); without one the model
is created in the local Ollama only, and the report says so.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infernet.train.basemodel import BaseModelRef
from infernet.train.config import load_config
from infernet.train.modelfile import Modelfile
from infernet.train.quantize import Quantized
from infernet.train.rundir import RunPaths


@dataclass(frozen=True)
class PublishOptions:
    quant: str = "q4_k_m"
    skip_hf: bool = False
    skip_ollama: bool = False
    modelfile_only: bool = False
    hf_repo: str | None = None
    ollama_model: str | None = None
    llama_cpp_path: Path = Path("~/llama.cpp")
    system: str | None = None


@dataclass
class PublishReport:
    folder: Path
    gguf: Path
    modelfile: Path
    quantized: Quantized | None = None
    hf_repo: str | None = None
    ollama_model: str | None = None
    notes: list[str] = field(default_factory=list)


def publish(root: Path, options: PublishOptions, say: Callable[[str], None]) -> PublishReport:
    name = load_config(root).name
    paths = RunPaths(root)
    out = root / "publish"
    out.mkdir(exist_ok=True)
    gguf = out / f"{name}.{options.quant}.gguf"
    modelfile = Modelfile(gguf.name, system=options.system)
    report = PublishReport(out, gguf, out / "Modelfile")
    report.modelfile.write_text(modelfile.render(), encoding="utf-8")
    if options.modelfile_only:
        if not gguf.is_file():
            report.notes.append(f"{gguf.name} does not exist yet: run publish without it")
        return report
    _check_destinations(options)
    from infernet.train.merge import trained_base

    base = trained_base(paths)
    f16 = _convert(paths, base, out, name, options, say)
    if options.quant != "f16":
        from infernet.train.quantize import quantize

        say(f"Quantizing to {options.quant} with llama.cpp")
        report.quantized = quantize(f16, gguf, options.quant)
    _stage_card(paths, out, base.location if base.kind == "hub" else None)
    if not options.skip_hf:
        from infernet.train.hub import upload_folder

        say("Uploading to Hugging Face")
        ignore = ["merged/*"] + ([] if options.quant == "f16" else ["*.f16.gguf"])
        report.hf_repo = upload_folder(out, options.hf_repo, name, ignore)
    if not options.skip_ollama:
        _ollama(report, modelfile, options.ollama_model or name, say)
    return report


def _check_destinations(options: PublishOptions) -> None:
    """What would fail after minutes of converting fails now instead."""
    if not options.skip_hf:
        from infernet.train.hub import hub_token

        hub_token()
    if not options.skip_ollama:
        from infernet.train.ollama_push import check_reachable

        check_reachable()


def _convert(
    paths: RunPaths,
    ref: BaseModelRef,
    out: Path,
    name: str,
    options: PublishOptions,
    say: Callable[[str], None],
) -> Path:
    from infernet.train import gguf_export
    from infernet.train.merge import merged_model

    if ref.kind != "gguf":
        gguf_export.converter_script(options.llama_cpp_path)  # fail before the long part
    say("Merging the adapter into the base model")
    merged, tokenizer = merged_model(paths, ref)
    f16 = out / f"{name}.f16.gguf"
    say(f"Writing {f16.name}")
    if ref.kind == "gguf":
        return gguf_export.export_from_gguf_base(merged.state_dict(), ref.path, f16, name)
    merged_dir = out / "merged"
    merged.save_pretrained(str(merged_dir))
    tokenizer.save_pretrained(str(merged_dir))
    return gguf_export.export_with_llama_cpp(merged_dir, f16, options.llama_cpp_path)


def _stage_card(paths: RunPaths, out: Path, base: str | None) -> None:
    """The run's README as a Hub model card: YAML metadata first, as the Hub expects."""
    meta = ["---", "library_name: peft", "tags: [infernet, lora, gguf]"]
    meta += [f"base_model: {base}"] if base else []
    readme = paths.readme.read_text(encoding="utf-8") if paths.readme.is_file() else ""
    (out / "README.md").write_text("\n".join([*meta, "---", "", readme]), encoding="utf-8")
    shutil.rmtree(out / "adapter", ignore_errors=True)
    shutil.copytree(paths.final, out / "adapter")


def _ollama(
    report: PublishReport, modelfile: Modelfile, model: str, say: Callable[[str], None]
) -> None:
    from infernet.train.ollama_push import create_and_push

    push = "/" in model
    create_and_push(report.gguf, modelfile, model, push=push, say=say)
    report.ollama_model = model
    if not push:
        report.notes.append(
            f"{model} was created in Ollama but not pushed: a push needs a namespaced name "
            "(--ollama-model you/NAME, after `ollama signin`)"
        )
