"""Provenance on finished jobs: the control plane checks the model key's signature over
the text it relayed, and the node's statement for that model key, and shows the result."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.jobs import provenance
from infernet.controlplane.nodes import auth as nodeauth
from infernet.protocol import delegation
from infernet.protocol.delegation import authorize_model_key
from infernet.protocol.keys import NodeKey
from infernet.protocol.provenance import sign_output, verify_output
from tests.support.harness import Harness
from tests.support.signed import channel, heartbeat, next_message, register

MESSAGES = [{"role": "user", "content": "hi"}]


async def run_by_hand(harness: Harness, provenance: Any) -> dict[str, Any]:
    """Serve one job as a hand-driven node that streams "Hel", "lo" and ends with
    ``provenance(job_id, attempt, node_key)``; return the job as the client sees it."""
    key = NodeKey.generate()
    await register(harness, key)
    async with channel(harness, key) as socket:
        await heartbeat(harness, key, ["m:1b"])
        async with harness.client() as api:
            job = await api.post("/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES})
            assignment = await next_message(socket)
            ids = {"job_id": assignment["job_id"], "attempt": assignment["attempt"]}
            for text in ("Hel", "lo"):
                await socket.send(_json({"type": "token", "text": text, **ids}))
            done = {
                "type": "done",
                "usage": {"prompt_tokens": 1, "completion_tokens": 2},
                "provenance": provenance(ids["job_id"], ids["attempt"], key),
                **ids,
            }
            await socket.send(_json(done))
            for _ in range(200):
                shown: dict[str, Any] = (await api.get(f"/api/v1/jobs/{job.json()['id']}")).json()
                if shown["status"] == "completed":
                    return shown
                await asyncio.sleep(0.05)
    raise AssertionError("the job never completed")


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value)


def proof(text: str, model: str = "m:1b", statement_key: NodeKey | None = None) -> Any:
    def make(job_id: str, attempt: int, node_key: NodeKey) -> dict[str, Any]:
        model_key = NodeKey.generate()
        statement = authorize_model_key(statement_key or node_key, model, model_key.public_hex)
        return {
            "model_pubkey": model_key.public_hex,
            "signature": sign_output(model_key, job_id, attempt, text),
            "model_key": statement.model_dump(mode="json"),
        }

    return make


async def test_a_signature_over_the_relayed_text_verifies(harness: Harness) -> None:
    job = await run_by_hand(harness, proof("Hello"))
    shown = job["provenance"]
    assert shown["verified"] is True and shown["attempt"] == 1
    assert verify_output(shown["model_pubkey"], shown["signature"], job["id"], 1, "Hello")


async def test_a_signature_over_other_text_is_kept_but_not_verified(harness: Harness) -> None:
    job = await run_by_hand(harness, proof("Goodbye"))
    assert job["result"]["content"] == "Hello" and job["provenance"]["verified"] is False


async def test_a_model_key_not_authorized_by_this_node_is_not_verified(
    harness: Harness,
) -> None:
    job = await run_by_hand(harness, proof("Hello", statement_key=NodeKey.generate()))
    assert job["provenance"]["verified"] is False


async def test_a_model_key_authorized_for_another_model_is_not_verified(
    harness: Harness,
) -> None:
    job = await run_by_hand(harness, proof("Hello", model="other:7b"))
    assert job["provenance"]["verified"] is False


async def test_a_job_without_provenance_shows_none(harness: Harness) -> None:
    job = await run_by_hand(harness, lambda *_: None)
    assert job["status"] == "completed" and job["provenance"] is None


async def test_the_statements_key_is_answered_from_the_identity_cache(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished job costs no node-key query: the node's key was read once, when it first
    signed a request, and the provenance check asks the same per-replica cache."""
    looked_up: list[str] = []
    look_up = nodeauth._look_up

    async def counted(db: AsyncEngine, signer: str) -> Any:
        looked_up.append(signer)
        return await look_up(db, signer)

    monkeypatch.setattr(nodeauth, "_look_up", counted)
    job = await run_by_hand(harness, proof("Hello"))
    assert job["provenance"]["verified"] is True
    assert len(looked_up) == 1, looked_up


def test_a_statement_is_verified_once_and_a_forged_twin_never(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node sends the same model-key statement with every job: its signature is checked
    the first time only. A statement with the same fields but another signature is a
    different statement, checked (and refused) on its own."""
    node_key, model_key = NodeKey.generate(), NodeKey.generate()
    genuine = authorize_model_key(node_key, "m:1b", model_key.public_hex)
    forged = genuine.model_copy(update={"signature": "1" * 128})
    checked: list[str] = []

    def counted(statement: Any, **kwargs: Any) -> None:
        checked.append(statement.signature)
        delegation.verify_model_key(statement, **kwargs)

    monkeypatch.setattr(provenance, "verify_model_key", counted)
    check = provenance.ProvenanceCheck(None, None, None)  # type: ignore[arg-type]
    assert [check._signed(genuine) for _ in range(3)] == [True, True, True]
    assert [check._signed(forged) for _ in range(2)] == [False, False]
    assert checked == [genuine.signature, forged.signature, forged.signature]
