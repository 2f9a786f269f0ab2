"""`infernet publish`: turn a finished run into a GGUF the network (and Ollama) can serve,
and upload it (Book §9.5). See `infernet/train/publish.py` for the steps and outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from infernet.cli.common import Exit, console, fail, user_errors


def publish(
    folder: Path = typer.Argument(Path("."), help="Run folder with checkpoint-final/."),
    quant: str = typer.Option("q4_k_m", "--quant", help="llama.cpp type (q4_k_m, q8_0...) or f16."),
    skip_hf: bool = typer.Option(False, "--skip-hf", help="Do not upload to Hugging Face."),
    skip_ollama: bool = typer.Option(False, "--skip-ollama", help="Skip ollama create/push."),
    modelfile_only: bool = typer.Option(False, "--modelfile-only", help="Only the Modelfile."),
    hf_repo: str = typer.Option(None, "--hf-repo", help="Hub repo (default: you/NAME)."),
    ollama_model: str = typer.Option(None, "--ollama-model", help="Ollama name (you/NAME)."),
    llama_cpp_path: Path = typer.Option(
        Path("~/llama.cpp"), "--llama-cpp-path", help="llama.cpp checkout (HF base models)."
    ),
    system: str = typer.Option(None, "--system", help="System prompt for the Modelfile."),
) -> None:
    """Merge the adapter, convert to GGUF, quantize, write a Modelfile, upload."""
    from infernet.train.publish import PublishOptions
    from infernet.train.publish import publish as run_publish
    from infernet.train.quantize import QUANTS

    quant = quant.lower()
    if quant != "f16" and quant not in QUANTS:
        raise fail(f"--quant {quant}: use f16 or one of {', '.join(QUANTS)}", Exit.USAGE)
    options = PublishOptions(
        quant, skip_hf, skip_ollama, modelfile_only, hf_repo, ollama_model, llama_cpp_path, system
    )
    os.environ.setdefault("TQDM_DISABLE", "1")
    with user_errors():
        report = run_publish(folder, options, lambda line: console.print(line, highlight=False))
    console.print(f"Modelfile: {report.modelfile}")
    if report.quantized is not None:
        console.print(report.quantized.summary())
    if not modelfile_only:
        console.print(f"GGUF: {report.gguf}")
    if report.hf_repo:
        console.print(f"Hugging Face: {report.hf_repo}")
    for note in report.notes:
        console.print(f"Note: {note}")
    if not modelfile_only:
        console.print(f"Serve it on a node: infernet model install {report.gguf}")
