"""SQL injection strings in every string field, path and query parameter the client API
takes: each is answered without a 5xx, stored (where it is stored at all) byte for byte
as sent, and every table is still there with only the rows the test made."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from sqlalchemy import func, select

from infernet.controlplane.store.tables import accounts, api_keys, jobs, metadata
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

INJECTIONS = [
    "'; DROP TABLE jobs; --",
    '" OR "1"="1',
    "' OR 1=1 --",
    "Robert'); DROP TABLE accounts;--",
    "1; DELETE FROM api_keys WHERE 1=1",
    "' UNION SELECT id, secret_hash FROM api_keys --",
    "%' AND 1=0 UNION SELECT NULL --",
    "$1::text; SELECT pg_sleep(5)",
    "\\'; --",
    "\x00' OR ''='",
]
PATHS = [
    "/api/v1/jobs/{}",
    "/api/v1/jobs/{}/stream",
    "/api/v1/nodes/{}",
    "/api/v1/nodes/{}/status",
    "/api/v1/nodes/{}/commands",
    "/api/v1/nodes/{}/prices",
    "/api/v1/commands/{}",
    "/api/v1/cprs/{}",
    "/api/v1/models/{}/keys",
    "/v1/models/{}",
]


async def counts(harness: Harness) -> dict[str, int]:
    async with harness.control_plane.services.db.connect() as conn:
        return {
            table.name: int(
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            )
            for table in metadata.sorted_tables
        }


def no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.request.url}: {response.text}"


async def probe_paths(api: httpx.AsyncClient, text: str) -> None:
    for path in PATHS:
        no_server_error(await api.get(path.format(quote(text, safe=""))))
    no_server_error(await api.delete(f"/api/v1/keys/{quote(text, safe='')}"))
    no_server_error(await api.post(f"/api/v1/cprs/{quote(text, safe='')}/sign", json={}))
    for query in ("status", "since", "limit"):
        no_server_error(await api.get("/api/v1/jobs", params={query: text}))
    no_server_error(await api.get("/api/v1/nodes", params={"status": text}))
    no_server_error(await api.get("/api/v1/ledger", params={"limit": text}))


async def probe_bodies(api: httpx.AsyncClient, text: str) -> list[str]:
    """Submit the string in every free-text field; return the ids of the jobs made."""
    made = []
    no_server_error(await api.post("/api/v1/keys", json={"name": text}))
    messages = [{"role": "user", "content": text}]
    for model in (text, "m:1b"):
        body = {"model": model, "messages": messages, "stop": [text], "max_tokens": 5}
        response = await api.post("/api/v1/jobs", json=body)
        no_server_error(response)
        if response.status_code in (200, 202):
            made.append(response.json()["id"])
        for path, payload in (
            ("/v1/chat/completions", {**body, "user": text}),
            ("/v1/completions", {"model": model, "prompt": text, "max_tokens": 5}),
        ):
            response = await api.post(path, json=payload)
            no_server_error(response)
            if response.status_code == 200:
                made.append("")  # a job row, whose id /v1 does not show
    return made


async def test_injection_strings_anywhere_are_inert(harness: Harness) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"], tokens=["ok"]))
    async with harness.client() as api:
        names: dict[str, str] = {}
        made: dict[str, str] = {}
        openai_jobs = 0
        for text in INJECTIONS:
            signup = await api.post("/api/v1/accounts", json={"name": text})
            no_server_error(signup)
            if signup.status_code == 201:
                names[signup.json()["api_key"]["key"]] = text
            await probe_paths(api, text)
            ids = await probe_bodies(api, text)
            made.update({job_id: text for job_id in ids if job_id})
            openai_jobs += ids.count("")
        for job_id, text in made.items():
            stored = (await api.get(f"/api/v1/jobs/{job_id}")).json()
            assert stored["status"] != "failed" or "\x00" in text, stored
        for key, text in names.items():
            async with harness.client(key) as theirs:
                assert (await theirs.get("/api/v1/account")).json()["name"] == text
        key_names = {k["name"] for k in (await api.get("/api/v1/keys")).json()["keys"]}
    assert set(INJECTIONS) - {t for t in INJECTIONS if "\x00" in t} <= key_names | {""}
    async with harness.control_plane.services.db.connect() as conn:
        requests = {
            r.id: r.request for r in (await conn.execute(select(jobs.c.id, jobs.c.request)))
        }
    for job_id, text in made.items():
        assert requests[job_id]["messages"][0]["content"] == text, "stored byte for byte"
    tally = await counts(harness)  # every table still answers
    assert (
        tally["jobs"] == len(made) + openai_jobs
        and tally["accounts"] >= 2
        and tally["api_keys"] >= 2
    )
    assert {accounts.name, api_keys.name, jobs.name} <= set(tally)
