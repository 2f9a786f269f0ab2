"""Confidential chat from Python (Book §6.6): encrypt the prompt to one node's model key,
send it pinned to that node, and decrypt the answer. The control plane sees ciphertext only.

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as api:
        print(confidential_chat(api, "qwen2.5:7b", "What is the capital of France?"))

`prepare` fetches `GET /api/v1/models/{model}/keys`, checks the chosen node's signed
statement against that node's key (so the control plane cannot slip in a key of its own
without also holding the node key), and makes a fresh client key per job. The streamed
text is one NIP-44 payload per line (protocol/confidential.py); `AnswerDecoder` turns
pieces as they arrive into plaintext.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from infernet.protocol.confidential import SEPARATOR, ConfidentialError, open_answer, seal_prompt
from infernet.protocol.delegation import DelegationError, ModelKeyStatement, verify_model_key
from infernet.protocol.keys import NodeKey
from infernet.protocol.wire import ChatMessageIn


class ModelKeyEntry(BaseModel):
    node_id: str
    node_pubkey: str
    model: str
    model_pubkey: str
    statement: ModelKeyStatement


class ModelKeyListing(BaseModel):
    model: str
    keys: list[ModelKeyEntry]


@dataclass(frozen=True)
class ConfidentialJob:
    """A sealed job ready to POST, and what its answer opens with."""

    body: dict[str, object]
    node_id: str
    conversation: bytes = field(repr=False)

    def open(self, content: str) -> str:
        return open_answer(content, self.conversation)


class AnswerDecoder:
    """Feed streamed pieces; get back the plaintext of every complete payload so far."""

    def __init__(self, conversation: bytes) -> None:
        self._conversation, self._buffer = conversation, ""

    def feed(self, piece: str) -> str:
        self._buffer += piece
        complete, _, self._buffer = self._buffer.rpartition(SEPARATOR)
        return open_answer(complete, self._conversation) if complete else ""


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise ConfidentialError(
            f"{response.request.url.path}: {response.status_code} {response.text}"
        )
    return response


def choose_key(listing: ModelKeyListing, node_id: str | None = None) -> ModelKeyEntry:
    for entry in listing.keys:
        if node_id is not None and entry.node_id != node_id:
            continue
        try:
            verify_model_key(entry.statement, node_pubkey=entry.node_pubkey, model=entry.model)
        except DelegationError:
            continue
        if entry.statement.model_pubkey == entry.model_pubkey:
            return entry
    where = f"node {node_id}" if node_id else "any online node"
    raise ConfidentialError(f"no verifiable model key for {listing.model} on {where}")


def prepare(
    api: httpx.Client,
    model: str,
    messages: list[ChatMessageIn],
    *,
    node_id: str | None = None,
    params: Mapping[str, object] | None = None,
) -> ConfidentialJob:
    listing = ModelKeyListing.model_validate_json(
        _check(api.get(f"/api/v1/models/{quote(model, safe=':')}/keys")).content
    )
    entry = choose_key(listing, node_id)
    sealed, conversation = seal_prompt(messages, NodeKey.generate(), entry.model_pubkey)
    body: dict[str, object] = {
        "model": model,
        "node_id": entry.node_id,
        "encrypted": sealed.model_dump(),
        **(params or {}),
    }
    return ConfidentialJob(body, entry.node_id, conversation)


def confidential_chat(
    api: httpx.Client,
    model: str,
    prompt: str,
    *,
    node_id: str | None = None,
    poll_s: float = 0.5,
    params: Mapping[str, object] | None = None,
) -> str:
    """Send `prompt` confidentially and return the decrypted answer (waits for the job)."""
    job = prepare(
        api, model, [ChatMessageIn(role="user", content=prompt)], node_id=node_id, params=params
    )
    job_id = _check(api.post("/api/v1/jobs", json=job.body)).json()["id"]
    while True:
        data = _check(api.get(f"/api/v1/jobs/{job_id}")).json()
        if data["status"] == "completed":
            return job.open(data["result"]["content"])
        if data["status"] == "failed":
            raise ConfidentialError(f"job failed: {data['error']}: {data['error_message']}")
        time.sleep(poll_s)


def stream_confidential(
    api: httpx.Client,
    model: str,
    prompt: str,
    *,
    node_id: str | None = None,
    params: Mapping[str, object] | None = None,
) -> Iterator[str]:
    """Yield the decrypted answer as it streams."""
    job = prepare(
        api, model, [ChatMessageIn(role="user", content=prompt)], node_id=node_id, params=params
    )
    decoder = AnswerDecoder(job.conversation)
    with api.stream("POST", "/api/v1/jobs", json={**job.body, "stream": True}) as response:
        if response.status_code >= 400:
            response.read()
            _check(response)
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if "error" in event:
                raise ConfidentialError(f"job failed: {event['error']}: {event.get('message')}")
            if text := decoder.feed(str(event.get("text", ""))):
                yield text
