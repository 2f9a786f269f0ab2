"""Models the network serves, with prices (api/models.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ModelPublic(BaseModel):
    id: str
    nodes: int
    names: list[str]
    # The lowest price among the online nodes serving it, USDC per 1K tokens (decimal
    # strings); null when payments are off. Clients may route by it (`provider.sort`).
    price_input_per_1k: str | None = None
    price_output_per_1k: str | None = None
    # Tokens (prompt and answer together) the largest context among the online nodes
    # serving it holds, and every context they run it with; null/empty when none says.
    context_length: int | None = None
    context_lengths: list[int] = Field(default_factory=list)
    # Measured on the online nodes' completed jobs (means over the nodes measured; null
    # before any): generation speed, and time from dispatch to the first token.
    avg_tokens_per_second: float | None = None
    avg_ttft_ms: float | None = None


class ModelList(BaseModel):
    models: list[ModelPublic]
