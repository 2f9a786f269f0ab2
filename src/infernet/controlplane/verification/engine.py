"""The trusted engine a verifier asks: any server with llama-server's scoring API (stock
`llama-server`, or the embedded engine, `python -m infernet.engine`, engine/scoring.py),
run by the platform for one model and named in `Settings.verifier_urls`.

Its answers are parsed here, at the edge, into scoring.py's `Candidate`s.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from infernet.controlplane.verification.scoring import Candidate

TOP_K = 40  # candidates asked for per position (a sampler's usual top-k)
# End-of-turn tokens as engines write them, besides the one `/props` names.
END_PIECES = frozenset({"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>", "<end_of_turn>"})


class VerifierUnavailable(Exception):
    """The verifying engine could not be asked (down, refused, malformed answer)."""


class Scorer(Protocol):
    """What a spot-check needs from an engine that serves the claimed model."""

    async def render(self, messages: list[dict[str, str]]) -> str: ...
    async def tokenize(self, text: str, add_special: bool = False) -> list[Candidate]: ...
    async def next_token(self, tokens: list[int], k: int = TOP_K) -> tuple[Candidate, ...]: ...
    async def end_pieces(self) -> frozenset[str]: ...
    async def close(self) -> None: ...


class LlamaServerScorer:
    def __init__(self, base_url: str, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(base_url=base_url, timeout=60.0)
        self._ends: frozenset[str] | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = await self._client.post(path, json=body)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise VerifierUnavailable(f"{path}: {exc!r}") from exc

    async def render(self, messages: list[dict[str, str]]) -> str:
        found = await self._post("/apply-template", {"messages": messages})
        return str(found["prompt"])

    async def tokenize(self, text: str, add_special: bool = False) -> list[Candidate]:
        body = {"content": text, "add_special": add_special, "with_pieces": True}
        found = await self._post("/tokenize", body)
        return [Candidate(int(t["id"]), str(t["piece"]), 0.0) for t in found["tokens"]]

    async def next_token(self, tokens: list[int], k: int = TOP_K) -> tuple[Candidate, ...]:
        body = {"prompt": tokens, "n_predict": 1, "n_probs": k, "temperature": 0.0}
        body |= {"cache_prompt": True, "post_sampling_probs": False}
        found = await self._post("/completion", body)
        try:
            top = found["completion_probabilities"][0]["top_logprobs"]
            return tuple(Candidate(int(c["id"]), str(c["token"]), float(c["logprob"])) for c in top)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise VerifierUnavailable(f"/completion answered {str(found)[:200]}") from exc

    async def end_pieces(self) -> frozenset[str]:
        if self._ends is None:
            try:
                response = await self._client.get("/props")
                eos = response.json().get("eos_token")
            except (httpx.HTTPError, ValueError, AttributeError):
                eos = None
            self._ends = END_PIECES | ({eos} if isinstance(eos, str) else set())
        return self._ends

    async def close(self) -> None:
        await self._client.aclose()
