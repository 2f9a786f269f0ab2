"""Dishonest copies of a GGUF model for the trust benchmark (bench/trust.py), made with
the `gguf` package and llama.cpp's own quantizer:

- `perturbed`: every normalization weight (F32) multiplied by 1 + N(0, `scale`): the same
  model, slightly broken (a bad conversion, a flipped bit, a cheap fine-tune);
- `fewer_layers`: the model cut to its first `layers` blocks: a different, cheaper model
  that shares the vocabulary and chat template, so it answers in the same format;
- `requantized`: the file quantized again to a smaller type (`Q2_K`): a degraded copy
  that costs less memory and compute.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np


def _copy(src: Path, out: Path, *, layers: int | None = None, scale: float = 0.0) -> Path:
    import gguf

    reader = gguf.GGUFReader(str(src))
    arch = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    writer = gguf.GGUFWriter(str(out), arch=arch)
    count_key = f"{arch}.block_count"
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if field.name == count_key and layers is not None:
            value = layers
        writer.add_key_value(field.name, value, kind, sub_type=sub)
    rng = np.random.default_rng(7)
    kept = []
    for tensor in reader.tensors:
        block = re.match(r"blk\.(\d+)\.", tensor.name)
        if layers is not None and block and int(block.group(1)) >= layers:
            continue
        data = np.array(tensor.data)
        if scale and tensor.tensor_type == gguf.GGMLQuantizationType.F32 and "norm" in tensor.name:
            data = (data * (1 + rng.normal(0, scale, data.shape))).astype(np.float32)
        kept.append((tensor, data))
        writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _tensor, data in kept:
        writer.write_tensor_data(data, tensor_endianess=reader.endianess)
    writer.close()
    return out


def perturbed(src: Path, out: Path, scale: float) -> Path:
    return _copy(src, out, scale=scale)


def fewer_layers(src: Path, out: Path, layers: int) -> Path:
    return _copy(src, out, layers=layers)


def requantized(src: Path, out: Path, kind: str = "Q2_K") -> Path:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
    params.allow_requantize = True
    if llama_cpp.llama_model_quantize(str(src).encode(), str(out).encode(), params) != 0:
        raise RuntimeError(f"llama.cpp could not quantize {src} to {kind}")
    return out
