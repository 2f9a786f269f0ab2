"""Operators' per-model prices (api/prices.py)."""

from __future__ import annotations

from pydantic import BaseModel


class PriceSet(BaseModel):
    model: str
    input_per_1k: str
    output_per_1k: str


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
