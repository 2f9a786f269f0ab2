"""Manage Models: what a node could install — the catalogue models its tier can run (with
the VRAM-fit estimate and the demand for each), and a catalogue search."""

from __future__ import annotations

from dataclasses import dataclass, replace

from infernet.controlplane.services import Services
from infernet.protocol.modelnames import (
    CATALOGUE,
    CatalogueEntry,
    UnknownBackend,
    names_for_backend,
    routing_key,
)
from infernet.protocol.tiers import UnknownTier, parse_tier
from infernet.protocol.vram import check_fit, recommend

MAX_RESULTS = 20


@dataclass(frozen=True, slots=True)
class Candidate:
    key: str
    install_name: str  # what the node's backend calls it; "": none for that backend
    params_b: float
    fit: str  # fits | tight | does_not_fit | unknown
    fit_message: str
    demand: int  # jobs submitted for it since start
    refused: int  # jobs refused: no node served it
    installed: bool
    tier_default: bool = False


def install_name(entry: CatalogueEntry, backend: str) -> str:
    """The name the node's backend installs the model by; "" when the catalogue knows no
    name for it on that backend (e.g. no GGUF file for llama.cpp)."""
    try:
        return names_for_backend(entry.key, backend) or ""
    except UnknownBackend:  # a backend the catalogue does not know: the plain key
        return entry.key


def _candidate(
    services: Services, entry: CatalogueEntry, backend: str, vram_gb: float, served: set[str]
) -> Candidate:
    name = install_name(entry, backend)
    fit = check_fit(name or entry.key, vram_gb) if vram_gb else None  # as it installs
    return Candidate(
        key=entry.key,
        install_name=name,
        params_b=entry.params_b,
        fit=fit.verdict if fit else "cpu",
        fit_message=fit.message if fit else "CPU node: small models run in system memory.",
        demand=services.jobs.demand.get(entry.key, 0),
        refused=sum(
            n for m, n in services.jobs.names.refused.items() if routing_key(m) == entry.key
        ),
        installed=entry.key in served,
    )


def suggested(
    services: Services, tier: str, vram_gb: float, backend: str, served: set[str]
) -> list[Candidate]:
    """The tier's models that fit, most demanded first (then the Book's tier default)."""
    try:
        known_tier = parse_tier(tier)
    except UnknownTier:  # a node that never said: suggest what a CPU node can run
        known_tier = "cpu"
    try:
        picks = recommend(known_tier, vram_gb, backend)  # sized as the backend installs
    except UnknownBackend:
        picks = recommend(known_tier, vram_gb)
    result = []
    for pick in picks:
        base = _candidate(services, pick.entry, backend, vram_gb, served)
        message = f"{pick.quant}: about {pick.estimate_gb:.1f} GB" + (
            f" of {vram_gb:.1f} GB VRAM" if vram_gb else " of RAM"
        )
        result.append(replace(base, fit_message=message, tier_default=pick.is_tier_default))
    result.sort(key=lambda c: (-(c.demand + c.refused), not c.tier_default))
    return result


def search(
    services: Services, query: str, vram_gb: float, backend: str, served: set[str]
) -> list[Candidate]:
    words = query.strip().lower().split()
    if not words:
        return []
    found = []
    for entry in CATALOGUE:
        haystack = " ".join(filter(None, (entry.key, entry.ollama, entry.huggingface, entry.gguf)))
        if all(word in haystack.lower() for word in words):
            found.append(_candidate(services, entry, backend, vram_gb, served))
    return found[:MAX_RESULTS]
