"""VRAM-fit math: how much GPU memory a model needs, whether it fits a node, and which
well-known models to recommend for a tier. Shared by the node (`infernet model info`,
`model recommend`, install checks) and the control plane (dashboard installs).

The numbers, and why:

- Weights = parameters × bytes per parameter: 2 for FP16/BF16, 1 for INT8/FP8/Q8, 0.5 for
  Q4/INT4, and the nominal bits/8 for the rest (Q6 0.75, Q5 0.625, Q3 0.375, Q2 0.25), in
  decimal GB. This is the Book's rule of thumb and reproduces its table exactly
  (7B: 14 / 7 / 3.5 GB). GGUF K-quants carry a few extra bits of scales; the overhead
  below absorbs them.
- Overhead = 10 % of the weights (KV cache for a default 2-8k context, activations; both
  grow with the model's width) + 1.0 GB fixed (CUDA/Metal context and backend buffers).
  `VramEstimate` reports weights and overhead apart, so the Book's weights-only numbers
  stay visible.
- Quantization when the name gives none: an Ollama tag pulls Q4 (the seed says so; the
  catalogue records the few tags that are FP16, e.g. `smollm2:135m`); a Hugging Face id
  is 16-bit (FP16/BF16); a GGUF file without a quant suffix is unknown.
- Verdict: `fits` when the estimate is at most 90 % of the VRAM, `tight` up to 100 %
  (loads, little room for longer context or a second model), `does_not_fit` above, and
  `unknown` when the name gives no parameter count and the catalogue does not know it:
  never a guess presented as fact.
- Tiers are `infernet.protocol.tiers` (re-exported here for older imports); the
  classification of a node into a tier lives in `infernet.node.hardware`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infernet.protocol.catalogue import CATALOGUE, CatalogueEntry, ModelKind
from infernet.protocol.modelnames import catalogue_entry, names_for_backend, parse_model_name
from infernet.protocol.tiers import TIERS as TIERS
from infernet.protocol.tiers import Tier as Tier

TIER_DEFAULT_MODEL: dict[Tier, str] = {
    ">=48gb": "qwen2.5:72b",
    ">=24gb": "qwen2.5:14b",
    ">=12gb": "qwen2.5:7b",
    ">=8gb": "qwen2.5:7b",
    "cpu": "qwen2.5:1.5b",
}
FitVerdict = Literal["fits", "tight", "does_not_fit", "unknown"]

BYTES_PER_PARAM: dict[str, float] = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "q8": 1.0,
    "q6": 0.75,
    "q5": 0.625,
    "q4": 0.5,
    "int4": 0.5,
    "q3": 0.375,
    "q2": 0.25,
}
OVERHEAD_FRACTION = 0.10
OVERHEAD_FIXED_GB = 1.0
FIT_HEADROOM = 0.90
CPU_MAX_PARAMS_B = 3.5  # the seed: CPU nodes run small models (1B-3B)
_RECOMMEND_QUANTS = ("fp16", "q8", "q4")  # best precision first


class UnknownQuantization(ValueError):
    """A quantization level this module has no bytes-per-parameter figure for."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a model name says about its size: parameters (billions), quantization level,
    and whether that quantization was read from the name or is the backend's default."""

    name: str
    key: str
    family: str
    params_b: float | None
    quant: str | None
    quant_is_default: bool
    kind: ModelKind | None


@dataclass(frozen=True, slots=True)
class VramEstimate:
    spec: ModelSpec
    params_b: float
    quant: str
    weights_gb: float
    overhead_gb: float

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.overhead_gb


@dataclass(frozen=True, slots=True)
class FitResult:
    verdict: FitVerdict
    message: str
    vram_gb: float
    estimate: VramEstimate | None


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A catalogued model that fits: under one backend's name, at the quantization that
    name pulls (`name` set); with no backend given, at the best precision that fits."""

    entry: CatalogueEntry
    quant: str
    estimate_gb: float
    is_tier_default: bool
    name: str | None = None


def weights_gb(params_b: float, quant: str) -> float:
    """Weights alone, in decimal GB: the Book's rule of thumb (7B FP16 = 14 GB)."""
    try:
        per_param = BYTES_PER_PARAM[quant.lower()]
    except KeyError as exc:
        known = ", ".join(BYTES_PER_PARAM)
        raise UnknownQuantization(f"Unknown quantization '{quant}'; known: {known}.") from exc
    return params_b * per_param


def overhead_gb(weights: float) -> float:
    """KV cache, activations and runtime on top of the weights (see module docstring)."""
    return weights * OVERHEAD_FRACTION + OVERHEAD_FIXED_GB


def model_spec(name: str) -> ModelSpec:
    """Parameters, quantization and family of a model named in any backend's format."""
    parsed = parse_model_name(name)
    entry = catalogue_entry(name)
    params = entry.params_b if entry is not None else parsed.params_b
    quant, is_default = parsed.quant, False
    if quant is None and parsed.format == "ollama":
        quant, is_default = (entry.ollama_quant if entry is not None else "q4"), True
    elif quant is None and parsed.format == "huggingface":
        quant, is_default = "fp16", True
    family = parse_model_name(entry.key).family if entry is not None else parsed.family
    kind = entry.kind if entry is not None else None
    key = entry.key if entry is not None else parsed.key
    return ModelSpec(name, key, family, params, quant, is_default, kind)


def estimate_vram(name: str, quant: str | None = None) -> VramEstimate | None:
    """VRAM a model needs, or None when its size or quantization is unknown. `quant`
    overrides the quantization read from the name."""
    spec = model_spec(name)
    level = quant if quant is not None else spec.quant
    if spec.params_b is None or level is None or level.lower() not in BYTES_PER_PARAM:
        return None
    weights = weights_gb(spec.params_b, level)
    return VramEstimate(spec, spec.params_b, level.lower(), weights, overhead_gb(weights))


def _verdict(total_gb: float, vram_gb: float) -> FitVerdict:
    if total_gb <= vram_gb * FIT_HEADROOM:
        return "fits"
    if total_gb <= vram_gb:
        return "tight"
    return "does_not_fit"


_VERDICT_ENDINGS: dict[FitVerdict, str] = {
    "fits": "it fits.",
    "tight": "it fits, with little room left for long context or a second model.",
}


def _does_not_fit(estimate: VramEstimate, vram_gb: float) -> str:
    """What to do instead: a Q4 build when the model is wider than 4 bits and Q4 would
    fit; else a smaller model (never "quantize" a model that is already Q4 or below)."""
    if BYTES_PER_PARAM[estimate.quant] <= BYTES_PER_PARAM["q4"]:
        small = estimate.quant.upper()
        return f"it does not fit, and {small} is already small: choose a smaller model."
    q4 = weights_gb(estimate.params_b, "q4")
    q4_total = q4 + overhead_gb(q4)
    if _verdict(q4_total, vram_gb) != "does_not_fit":
        return (
            f"it does not fit. A 4-bit build would need about {q4_total:.1f} GB: choose one "
            "(an Ollama `-q4_K_M` tag, a Q4 GGUF, an AWQ or GPTQ repo) or a smaller model."
        )
    return f"it does not fit, even at Q4 (about {q4_total:.1f} GB): choose a smaller model."


def _unknown(name: str, vram_gb: float) -> FitResult:
    spec = model_spec(name)
    missing = "its parameter count" if spec.params_b is None else "its quantization"
    message = (
        f"The VRAM need of '{name}' is unknown: {missing} is not in its name and the "
        "catalogue does not list it. Check the model card before installing."
    )
    return FitResult("unknown", message, vram_gb, None)


def check_fit(name: str, vram_gb: float, quant: str | None = None) -> FitResult:
    """Whether a model fits in `vram_gb` (decimal GB; combined across GPUs)."""
    estimate = estimate_vram(name, quant)
    if estimate is None:
        return _unknown(name, vram_gb)
    verdict = _verdict(estimate.total_gb, vram_gb)
    source = "default" if estimate.spec.quant_is_default and quant is None else "from the name"
    ending = (
        _does_not_fit(estimate, vram_gb) if verdict == "does_not_fit" else _VERDICT_ENDINGS[verdict]
    )
    message = (
        f"{name} ({estimate.params_b:g}B, {estimate.quant} {source}) needs about "
        f"{estimate.total_gb:.1f} GB of VRAM ({estimate.weights_gb:.1f} GB weights + "
        f"{estimate.overhead_gb:.1f} GB KV cache and runtime); this node has "
        f"{vram_gb:.1f} GB: {ending}"
    )
    return FitResult(verdict, message, vram_gb, estimate)


def _best_fit(entry: CatalogueEntry, vram_gb: float) -> Recommendation | None:
    for quant in _RECOMMEND_QUANTS:
        total = entry.params_b * BYTES_PER_PARAM[quant]
        total += overhead_gb(total)
        if _verdict(total, vram_gb) == "fits":
            return Recommendation(entry, quant, total, False)
    return None


def _cpu_pick(entry: CatalogueEntry) -> Recommendation | None:
    if entry.params_b > CPU_MAX_PARAMS_B and entry.kind != "embedding":
        return None
    weights = weights_gb(entry.params_b, entry.ollama_quant)
    return Recommendation(entry, entry.ollama_quant, weights + overhead_gb(weights), False)


def _named_pick(
    entry: CatalogueEntry, tier: Tier, memory_gb: float, backend: str
) -> Recommendation | None:
    """`entry` under `backend`'s name, sized by the same estimate as `check_fit` and
    `model info` give that name; None when the backend has no name for it or it does not
    fit. CPU nodes keep to small models; their memory is system RAM (0: not known)."""
    name = names_for_backend(entry.key, backend)
    estimate = estimate_vram(name) if name is not None else None
    if name is None or estimate is None:
        return None
    if tier == "cpu" and entry.params_b > CPU_MAX_PARAMS_B and entry.kind != "embedding":
        return None
    if (tier != "cpu" or memory_gb > 0) and _verdict(estimate.total_gb, memory_gb) != "fits":
        return None
    return Recommendation(entry, estimate.quant, estimate.total_gb, False, name)


def recommend(tier: Tier, vram_gb: float, backend: str | None = None) -> list[Recommendation]:
    """Catalogued models for a node of `tier` with `vram_gb` of (combined) VRAM: the tier's
    default model first, then the rest, largest first, embedding models last. With a
    `backend`, only models it has a name for, at the quantization that name pulls (what
    an install of it would need); without, at the best precision that fits. CPU nodes get
    small models."""
    default_key = TIER_DEFAULT_MODEL[tier]
    picks: list[Recommendation] = []
    for entry in CATALOGUE:
        if backend is not None:
            pick = _named_pick(entry, tier, vram_gb, backend)
        else:
            pick = _cpu_pick(entry) if tier == "cpu" else _best_fit(entry, vram_gb)
        if pick is not None:
            is_default = entry.key == default_key
            picks.append(Recommendation(entry, pick.quant, pick.estimate_gb, is_default, pick.name))
    picks.sort(
        key=lambda r: (not r.is_tier_default, r.entry.kind == "embedding", -r.entry.params_b)
    )
    return picks
