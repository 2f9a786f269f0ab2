"""Nodes' per-model keys for confidential jobs (api/confidential.py)."""

from __future__ import annotations

from pydantic import BaseModel

from infernet.protocol.delegation import ModelKeyStatement


class ModelKeyPublic(BaseModel):
    node_id: str
    node_pubkey: str
    model: str  # the model's name on that node
    model_pubkey: str
    statement: ModelKeyStatement
    status: str


class ModelKeyList(BaseModel):
    model: str
    keys: list[ModelKeyPublic]
