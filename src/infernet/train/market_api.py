"""The submitter's calls to the control plane's training API (api/training.py), with a
client API key. What comes back is read into the few typed facts the CLI uses; a refusal
or an unreachable control plane is a `ControlPlaneError` (exit 4)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from infernet.httperrors import describe
from infernet.node.client import ControlPlaneError
from infernet.protocol.training import TRAINING_PREFIX

FINAL = ("done", "partial", "failed")
RATE_LIMIT_TRIES = 20


@dataclass(frozen=True)
class MarketShard:
    id: str
    position: int
    examples: int
    status: str
    attempts: int
    pay_usdc: str
    detail: str
    claims: list[dict[str, Any]]

    @property
    def accepted(self) -> dict[str, Any] | None:
        return next((c for c in self.claims if c["status"] == "accepted"), None)


@dataclass(frozen=True)
class MarketJob:
    id: str
    status: str
    detail: str
    budget_usdc: str
    paid_usdc: str
    payments: bool
    shards: list[MarketShard]

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    def count(self, *statuses: str) -> int:
        return sum(s.status in statuses for s in self.shards)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MarketJob:
        keys = ("id", "position", "examples", "status", "attempts", "pay_usdc", "detail", "claims")
        shards = [MarketShard(**{k: s[k] for k in keys}) for s in data["shards"]]
        return cls(
            id=data["id"],
            status=data["status"],
            detail=data["detail"],
            budget_usdc=data["budget_usdc"],
            paid_usdc=data["paid_usdc"],
            payments=data["payments"],
            shards=shards,
        )


class MarketClient:
    def __init__(self, url: str, api_key: str, *, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for _ in range(RATE_LIMIT_TRIES):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise ControlPlaneError(
                    f"cannot reach the control plane at {self.url}: {describe(exc)}"
                ) from exc
            if response.status_code != 429:
                break
            # The key's request limit (many shards to upload): wait as the answer says.
            time.sleep(min(60.0, float(response.headers.get("retry-after", "1") or 1)))
        if response.status_code >= 400:
            try:
                detail = response.json().get("error_message", response.text)
            except json.JSONDecodeError:
                detail = response.text
            raise ControlPlaneError(f"the control plane refused: {detail}", response.status_code)
        return response

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._send("POST", f"{TRAINING_PREFIX}/jobs", json=body).json()
        return answer

    def upload(self, path: str, data: bytes) -> None:
        self._send("PUT", path, content=data, headers={"content-type": "application/x-ndjson"})

    def job(self, job_id: str) -> MarketJob:
        return MarketJob.from_json(self._send("GET", f"{TRAINING_PREFIX}/jobs/{job_id}").json())

    def adapter_file(self, job_id: str, shard_id: str, name: str) -> bytes:
        return self._send(
            "GET", f"{TRAINING_PREFIX}/jobs/{job_id}/shards/{shard_id}/{name}"
        ).content

    def close(self) -> None:
        self._http.close()
