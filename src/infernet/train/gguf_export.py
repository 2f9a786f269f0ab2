"""Merged Hugging Face weights → one F16 GGUF file (Book §9.5 step 2).

Two ways, chosen by where the base model came from:

- A llama-family GGUF base (the bundled SmolLM2 among them): the `gguf` package writes a
  new file with every key of the base file (architecture, tokenizer, chat template) and the
  merged weights, named and laid out the way llama.cpp's converter does it (tensor names
  from `gguf.get_tensor_name_map`; q/k rows permuted back into llama.cpp's rotary order,
  which transformers undid on load; matrices F16, norms F32). Every tensor of the base
  must be written again, or it fails.
- A Hugging Face base: llama.cpp's own `convert_hf_to_gguf.py` from a llama.cpp checkout
  (`--llama-cpp-path`, default `~/llama.cpp`), run on the saved merged folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from infernet.train.errors import MissingDependency, PublishError

_SKIP_KEYS = ("GGUF.", "general.file_type", "general.name", "general.architecture")
_SUPPORTED_ARCHS = ("llama",)


def _permute(weights: Any, heads: int) -> Any:
    """HF's q/k row order → llama.cpp's (convert_hf_to_gguf.py's LlamaModel.permute)."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _copy_keys(reader: Any, writer: Any, name: str) -> None:
    from gguf import GGUFValueType

    for key, field in reader.fields.items():
        if key.startswith(_SKIP_KEYS):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), kind, sub)
    writer.add_name(name)
    writer.add_file_type(1)  # MOSTLY_F16


def _tensor_map(reader: Any, arch: str) -> Any:
    import gguf

    blocks = int(reader.fields[f"{arch}.block_count"].contents())
    found = [a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch]
    return gguf.get_tensor_name_map(found[0], blocks)


def export_from_gguf_base(state: dict[str, Any], base: Path, out: Path, name: str) -> Path:
    """Write `state` (merged HF tensors, torch) as `out`, keyed like the GGUF `base`."""
    import numpy as np
    from gguf import GGUFReader, GGUFWriter

    reader = GGUFReader(str(base))
    arch = str(reader.fields["general.architecture"].contents())
    if arch not in _SUPPORTED_ARCHS:
        raise PublishError(
            f"the base GGUF is a {arch} model; writing it back is built for "
            f"{', '.join(_SUPPORTED_ARCHS)} only: use a Hugging Face base (llama.cpp's converter)"
        )
    heads = int(reader.fields[f"{arch}.attention.head_count"].contents())
    kv_heads = int(reader.fields[f"{arch}.attention.head_count_kv"].contents())
    wanted = {t.name for t in reader.tensors}
    names = _tensor_map(reader, arch)
    partial = out.with_name(out.name + ".part")
    writer = GGUFWriter(str(partial), arch)
    _copy_keys(reader, writer, name)
    written = set()
    for key, tensor in state.items():
        target = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if target is None or target not in wanted:
            continue  # e.g. lm_head.weight when the base ties it to the embeddings
        data = tensor.detach().float().cpu().numpy()
        if key.endswith("q_proj.weight"):
            data = _permute(data, heads)
        elif key.endswith("k_proj.weight"):
            data = _permute(data, kv_heads)
        writer.add_tensor(target, data.astype(np.float16 if data.ndim == 2 else np.float32))
        written.add(target)
    if missing := sorted(wanted - written):
        writer.close()
        partial.unlink(missing_ok=True)
        raise PublishError(f"the merged model has no weights for {', '.join(missing[:5])}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(out)
    return out


def converter_script(llama_cpp_path: Path) -> Path:
    script = llama_cpp_path.expanduser() / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise MissingDependency(
            f"{script} not found: converting a Hugging Face model needs llama.cpp's converter "
            "(git clone https://github.com/ggml-org/llama.cpp ~/llama.cpp, then "
            "pip install -r ~/llama.cpp/requirements/requirements-convert_hf_to_gguf.txt), "
            "or pass --llama-cpp-path"
        )
    return script


def export_with_llama_cpp(merged_dir: Path, out: Path, llama_cpp_path: Path) -> Path:
    """Run llama.cpp's `convert_hf_to_gguf.py --outtype f16` on a saved HF folder."""
    script = converter_script(llama_cpp_path)
    argv = [sys.executable, str(script), str(merged_dir), "--outfile", str(out), "--outtype", "f16"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise PublishError(f"convert_hf_to_gguf.py failed: {' / '.join(tail)}")
    return out
