"""Confidential jobs (Book §6.6): only the chosen node reads the prompt and the answer."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from infernet.client.confidential import AnswerDecoder, ModelKeyListing, choose_key
from infernet.controlplane.jobs.failover import CONFIDENTIAL_LOST
from infernet.controlplane.store import jobs as job_store
from infernet.protocol.confidential import open_answer, seal_prompt, seal_token
from infernet.protocol.keys import NodeKey
from infernet.protocol.wire import ChatMessageIn
from tests.support.harness import Harness, running
from tests.support.scripted import ScriptedBackend

SECRET = "my secret diagnosis is zebra-kiwi-42"
ANSWER = ["Confidential", " answer", " plum-walnut-17"]


async def sealed_job(
    api: httpx.AsyncClient, model: str = "m:1b"
) -> tuple[dict[str, object], bytes]:
    listing = ModelKeyListing.model_validate_json(
        (await api.get(f"/api/v1/models/{model}/keys")).content
    )
    entry = choose_key(listing)
    sealed, conversation = seal_prompt(
        [ChatMessageIn(role="user", content=SECRET)], NodeKey.generate(), entry.model_pubkey
    )
    body = {"model": model, "node_id": entry.node_id, "encrypted": sealed.model_dump()}
    return body, conversation


async def test_the_node_reads_the_prompt_and_the_control_plane_only_ciphertext(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(tmp_path) as harness:
        backend = ScriptedBackend(["m:1b"], tokens=ANSWER)
        await harness.add_node(backend)
        async with harness.client() as api:
            body, conversation = await sealed_job(api)
            reply = await api.post("/api/v1/jobs", json={**body, "stream": True})
            streamed = "".join(
                json.loads(line[6:])["text"]
                for line in reply.text.splitlines()
                if line.startswith('data: {"text"')
            )
            job_id = (await api.get("/api/v1/jobs")).json()["jobs"][0]["id"]
            stored = (await api.get(f"/api/v1/jobs/{job_id}")).json()
        row = await job_store.get(harness.control_plane.services.db, job_id)
    assert backend.requests[0].messages[0].content == SECRET  # the node decrypted it
    assert open_answer(streamed, conversation) == "".join(ANSWER)
    assert stored["status"] == "completed"
    assert open_answer(stored["result"]["content"], conversation) == "".join(ANSWER)
    assert row is not None
    for secret in (SECRET, "plum-walnut-17"):
        assert secret not in str(row)
        assert secret not in streamed
        assert secret not in caplog.text


async def test_keys_listing_names_each_node_and_a_statement_the_client_can_verify(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as harness:
        await harness.add_node(ScriptedBackend(["m:1b"]))
        await harness.add_node(ScriptedBackend(["m:1b"]))
        async with harness.client() as api:
            listing = ModelKeyListing.model_validate_json(
                (await api.get("/api/v1/models/m:1b/keys")).content
            )
    assert len(listing.keys) == 2
    assert {k.node_id for k in listing.keys} == {n.node_id for n in harness.nodes}
    for entry in listing.keys:
        assert choose_key(listing, entry.node_id) == entry
        assert entry.model_pubkey != entry.node_pubkey  # a per-model key, not the node key


async def test_an_encrypted_job_must_name_its_node_and_cannot_also_send_messages(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as harness:
        await harness.add_node(ScriptedBackend(["m:1b"]))
        async with harness.client() as api:
            body, _ = await sealed_job(api)
            unpinned = await api.post("/api/v1/jobs", json={**body, "node_id": None})
            both = await api.post(
                "/api/v1/jobs", json={**body, "messages": [{"role": "user", "content": "hi"}]}
            )
    assert unpinned.status_code == 400 or unpinned.status_code == 422
    assert both.status_code == 400 or both.status_code == 422


async def test_a_prompt_sealed_to_another_key_is_refused_by_the_node(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        backend = ScriptedBackend(["m:1b"])
        await harness.add_node(backend)
        async with harness.client() as api:
            body, _ = await sealed_job(api)
            sealed, _ = seal_prompt(
                [ChatMessageIn(role="user", content=SECRET)],
                NodeKey.generate(),
                NodeKey.generate().public_hex,
            )
            reply = await api.post(
                "/api/v1/jobs", json={**body, "encrypted": sealed.model_dump(), "stream": True}
            )
    assert "bad_request" in reply.text
    assert backend.requests == []


async def test_a_confidential_job_whose_node_dies_mid_answer_fails_instead_of_continuing(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as harness:
        await harness.add_node(ScriptedBackend(["m:1b"], tokens=ANSWER * 5, delay_s=0.2))
        async with harness.client() as api:
            body, _ = await sealed_job(api)
            job_id = (await api.post("/api/v1/jobs", json=body)).json()["id"]
            await first_token(harness, job_id)
            await harness.nodes[0].stop()
            job = await finished(api, job_id)
    assert job["status"] == "failed"
    assert job["error"] == "node_disconnected"
    assert job["error_message"] == CONFIDENTIAL_LOST


async def first_token(harness: Harness, job_id: str) -> None:
    live = harness.control_plane.services.jobs.live(job_id)
    assert live is not None
    async for piece in live.stream.follow():
        if piece:
            return


async def finished(api: httpx.AsyncClient, job_id: str) -> dict[str, object]:
    for _ in range(200):
        job: dict[str, object] = (await api.get(f"/api/v1/jobs/{job_id}")).json()
        if job["status"] in ("completed", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("job did not finish")


def test_the_decoder_opens_pieces_as_they_complete() -> None:
    client, model = NodeKey.generate(), NodeKey.generate()
    _, conversation = seal_prompt(
        [ChatMessageIn(role="user", content="x")], client, model.public_hex
    )
    stream = seal_token("Hello", conversation) + seal_token(" world", conversation)
    decoder = AnswerDecoder(conversation)
    out = [decoder.feed(stream[:10]), decoder.feed(stream[10:70]), decoder.feed(stream[70:])]
    assert "".join(out) == "Hello world"
