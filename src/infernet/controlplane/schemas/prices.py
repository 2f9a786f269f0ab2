"""Operators' per-model prices (api/prices.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

# USDC per 1K tokens as a decimal string of ASCII digits, e.g. "0.002" (protocol/money.py).
PRICE = Field(max_length=64, json_schema_extra={"format": "decimal"})


class PriceSet(BaseModel):
    model: str = Field(max_length=300)
    input_per_1k: str = PRICE
    output_per_1k: str = PRICE


class ModelPrice(BaseModel):
    model: str
    routing_key: str
    input_per_1k: str
    output_per_1k: str
    source: str  # operator | default
    currency: str = "USDC"


class NodePrices(BaseModel):
    node_id: str
    prices: list[ModelPrice]
