"""F16 GGUF → quantized GGUF with llama.cpp's own quantizer (Book §9.5 step 3).

The quantizer is llama.cpp's `llama_model_quantize`, the function behind `llama-quantize`,
called through the llama-cpp-python bindings (the `llamacpp` extra). The names are
llama.cpp's file types (q4_k_m, q8_0, ...). K-quants work on rows of 256 values; where a
tensor's rows are not a multiple of 256 (SmolLM2-135M's width is 576), llama.cpp uses a
fallback type for that tensor, so the report counts the tensor types actually written.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infernet.train.errors import MissingDependency, PublishError

QUANTS = (
    "q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_0", "q4_1", "q4_k_s", "q4_k_m",
    "q5_0", "q5_1", "q5_k_s", "q5_k_m", "q6_k", "q8_0",
)  # fmt: skip


@dataclass(frozen=True)
class Quantized:
    path: Path
    quant: str
    tensor_types: dict[str, int]  # e.g. {"Q4_K": 61, "Q5_0": 120, "F32": 61}

    def summary(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.tensor_types.items()))
        return f"{self.path.name}: {kinds} tensors"


def tensor_types(path: Path) -> dict[str, int]:
    from gguf import GGUFReader

    return dict(Counter(t.tensor_type.name for t in GGUFReader(str(path)).tensors))


@contextmanager
def _c_stderr_to(sink: tempfile._TemporaryFileWrapper[bytes]) -> Iterator[None]:
    """llama.cpp prints a line per tensor to fd 2; keep it for the error message instead."""
    saved = os.dup(2)
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quantize(f16: Path, out: Path, quant: str) -> Quantized:
    if quant not in QUANTS:
        raise PublishError(f"--quant {quant}: not one of f16, {', '.join(QUANTS)}")
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependency(
            "quantizing needs llama.cpp's bindings: pip install 'infernet[llamacpp]' "
            "(or publish with --quant f16)"
        ) from exc
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant.upper()}")
    params.nthread = os.cpu_count() or 1
    partial = out.with_name(out.name + ".part")
    with tempfile.NamedTemporaryFile() as log, _c_stderr_to(log):
        code = llama_cpp.llama_model_quantize(
            str(f16).encode(), str(partial).encode(), ctypes.byref(params)
        )
        log.seek(0)
        said = log.read().decode(errors="replace").strip().splitlines()[-3:]
    if code != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise PublishError(
            f"llama.cpp could not quantize {f16.name} to {quant}: {' / '.join(said)}"
        )
    partial.replace(out)
    return Quantized(out, quant, tensor_types(out))
