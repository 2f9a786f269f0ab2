"""A node is a claim to check, never a source of money. A rogue node (tests/support/
rogue.py: its own signing, its own channel client) joins a paid network beside two honest
nodes and lies in every field it sends: usage, text length, job ids, attempts, frame
types, malformed messages, a dropped channel. Whatever it says:

* the client pays at most what the control plane itself can check: completion tokens at
  most the job's `max_tokens` (a stream going past it is cut), prompt tokens at most what
  the prompt sent to that node can hold, output at most what `max_tokens` tokens can hold;
* the node is paid the checked amount, flagged (its owner sees the count and the reason),
  penalized in routing, and excluded after repeated offences;
* the ledger stays balanced and every hold ends settled or released;
* its channel stays up through bad frames, and a broken message never leaves a job hanging.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.billing import final_key
from infernet.controlplane.money.bounds import MAX_TOKEN_CHARS, prompt_bound
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.accounts import account_for_key
from infernet.controlplane.store.tables import ledger_balances
from infernet.protocol.money import from_micros
from infernet.protocol.wire import ChatMessageIn
from tests.support.harness import Harness, running
from tests.support.rogue import RogueNode, done, token
from tests.support.scripted import ScriptedBackend
from tests.support.signed import new_token

MODEL = "m:1b"
PROMPT = [{"role": "user", "content": "capital of France?"}]
BOUND = prompt_bound([ChatMessageIn(role="user", content="capital of France?")], None)


@pytest_asyncio.fixture
async def net(tmp_path: Path, database_url: str | None) -> AsyncIterator[Harness]:
    settings = Settings(
        payments_enabled=True,
        platform_key_path=str(tmp_path / "platform.key"),
        stall_timeout_s=5.0,  # a message lost to a bug must not hold a job for a minute
    )
    async with running(tmp_path, settings, database_url) as harness:
        for _ in range(2):
            await harness.add_node(ScriptedBackend([MODEL], tokens=["Paris", "."]))
        yield harness


@pytest_asyncio.fixture
async def operator_key(net: Harness) -> str:
    """The API key of the account that owns the rogue node."""
    return await net.control_plane.create_client_key("operator")


@pytest_asyncio.fixture
async def rogue(net: Harness, operator_key: str) -> AsyncIterator[RogueNode]:
    """A rogue node owned by the operator's account, its job channel open."""
    node = RogueNode(net.url)
    await node.join([MODEL], token=await new_token(net, operator_key))
    await node.open_channel()
    await net.control_plane.wait_serving(MODEL, 3, timeout=10)
    yield node
    await node.close()


async def submit(net: Harness, rogue: RogueNode, max_tokens: int = 5, **extra: Any) -> str:
    body = {"model": MODEL, "messages": PROMPT, "max_tokens": max_tokens, **extra}
    async with net.client() as api:
        answer = await api.post("/api/v1/jobs", json={"node_id": rogue.node_id, **body})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


async def settled(net: Harness, job_id: str) -> dict[str, Any]:
    """The job once it has ended and its hold was settled or released."""
    money = net.control_plane.services.payments
    assert money is not None
    async with net.client() as api:
        for _ in range(600):
            job: dict[str, Any] = (await api.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] in ("completed", "failed") and await money.ledger.posted(
                final_key(job_id)
            ):
                return job
            await asyncio.sleep(0.025)
    raise AssertionError(f"job {job_id} never ended with its hold settled or released: {job}")


async def books(net: Harness) -> dict[str, Decimal]:
    """Every ledger balance, and the proof that they sum to zero."""
    async with net.control_plane.services.db.connect() as conn:
        rows = (await conn.execute(select(ledger_balances))).all()
        total = (await conn.execute(select(func.sum(ledger_balances.c.micros)))).scalar()
    assert (total or 0) == 0, "the ledger is not balanced"
    return {str(r.account): from_micros(r.micros) for r in rows}


async def client_account(net: Harness) -> str:
    account = await account_for_key(net.control_plane.services.db, net.api_key)
    assert account is not None
    return account


async def flagged(net: Harness, owner_key: str, rogue: RogueNode) -> dict[str, Any]:
    """The rogue node as its owner sees it."""
    async with net.client(owner_key) as api:
        listed = (await api.get("/api/v1/nodes")).json()["nodes"]
    [mine] = [n for n in listed if n["id"] == rogue.node_id]
    found: dict[str, Any] = mine
    return found


async def assert_paid_at_most(net: Harness, job: dict[str, Any], before: Decimal) -> None:
    """The client paid what the stored (checked) usage is worth at most, and nothing is
    left held."""
    account = await client_account(net)
    balances = await books(net)
    assert balances.get(accounts.client_held(account), Decimal(0)) == 0
    paid = before - balances[accounts.client_available(account)]
    usage = (
        job["result"]["usage"] if job["result"] else {"prompt_tokens": 0, "completion_tokens": 0}
    )
    # The default price of a 1B model is far below 1 USDC per 1K tokens.
    ceiling = Decimal(usage["prompt_tokens"] + usage["completion_tokens"]) / 1000
    assert 0 <= paid <= ceiling, (paid, usage)


async def available(net: Harness) -> Decimal:
    return (await books(net))[accounts.client_available(await client_account(net))]


# --- usage --------------------------------------------------------------------------------


async def test_a_completion_claim_past_max_tokens_is_paid_as_checked_and_flagged(
    net: Harness, rogue: RogueNode, operator_key: str
) -> None:
    before = await available(net)
    job_id = await submit(net, rogue, max_tokens=5)
    job = await rogue.assignment()
    await rogue.send(token(job, "hi"), done(job, 1, 10_000_000))
    finished = await settled(net, job_id)
    assert finished["status"] == "completed"
    assert finished["result"]["usage"]["completion_tokens"] <= 5
    await assert_paid_at_most(net, finished, before)
    node = await flagged(net, operator_key, rogue)
    assert node["offences"] == 1 and "completion_tokens" in node["last_offence"]
    async with httpx.AsyncClient(base_url=net.url) as browser:  # the owner's dashboard too
        await browser.post("/dashboard/sign-in", data={"api_key": operator_key})
        page = (await browser.get(f"/dashboard/nodes/{rogue.node_id}")).text
    assert "Offences" in page and "completion_tokens 10000000" in page


async def test_a_prompt_claim_past_what_the_prompt_holds_is_paid_as_checked(
    net: Harness, rogue: RogueNode, operator_key: str
) -> None:
    before = await available(net)
    job_id = await submit(net, rogue)
    job = await rogue.assignment()
    await rogue.send(token(job, "hi"), done(job, 10**12, 1))
    finished = await settled(net, job_id)
    assert finished["result"]["usage"]["prompt_tokens"] <= BOUND
    await assert_paid_at_most(net, finished, before)
    assert (await flagged(net, operator_key, rogue))["offences"] == 1


async def test_a_stream_past_max_tokens_is_cut_and_counted(
    net: Harness, rogue: RogueNode, operator_key: str
) -> None:
    before = await available(net)
    job_id = await submit(net, rogue, max_tokens=3)
    job = await rogue.assignment()
    await rogue.send(*[token(job, f" t{i}") for i in range(50)], done(job, 5, 50))
    finished = await settled(net, job_id)
    assert finished["status"] == "completed"
    assert finished["result"]["content"] == " t0 t1 t2"
    assert finished["result"]["usage"]["completion_tokens"] <= 3
    await assert_paid_at_most(net, finished, before)
    assert (await flagged(net, operator_key, rogue))["offences"] >= 1


async def test_output_longer_than_max_tokens_can_hold_is_cut(
    net: Harness, rogue: RogueNode, operator_key: str
) -> None:
    job_id = await submit(net, rogue, max_tokens=2)
    job = await rogue.assignment()
    await rogue.send(token(job, "x" * 5_000_000), done(job, 5, 1))
    finished = await settled(net, job_id)
    assert len(finished["result"]["content"]) <= 2 * MAX_TOKEN_CHARS
    async with net.client() as api:
        streamed = (await api.get(f"/api/v1/jobs/{job_id}/stream")).text
    assert len(streamed) < 4 * MAX_TOKEN_CHARS
    assert (await flagged(net, operator_key, rogue))["offences"] >= 1


BAD_USAGE = [
    ("negative", -5_000_000, -10_000_000),
    ("fractional", 1.5, 2),
    ("a string", "5", "7"),
    ("a boolean", True, True),
    ("missing", None, None),
]


@pytest.mark.parametrize(("case", "prompt", "completion"), BAD_USAGE, ids=[c[0] for c in BAD_USAGE])
async def test_usage_that_is_not_a_count_is_refused_and_the_job_still_ends(
    net: Harness, rogue: RogueNode, operator_key: str, case: str, prompt: Any, completion: Any
) -> None:
    before = await available(net)
    job_id = await submit(net, rogue)
    job = await rogue.assignment()
    await rogue.send(token(job, "hi"), done(job, prompt, completion))
    again = await asyncio.wait_for(rogue.assignment(), 10)  # taken back at once, same node
    assert again["job_id"] == job_id and again["attempt"] == job["attempt"] + 1
    await rogue.send(token(again, " there"), done(again, 9, 1))  # the channel still works
    finished = await settled(net, job_id)
    assert finished["status"] == "completed"
    assert finished["result"]["content"] == "hi there"
    await assert_paid_at_most(net, finished, before)
    node = await flagged(net, operator_key, rogue)
    assert node["offences"] == 1 and "malformed" in node["last_offence"]


# --- frames, ids, attempts ------------------------------------------------------------------


async def test_a_binary_frame_does_not_drop_the_channel(net: Harness, rogue: RogueNode) -> None:
    job_id = await submit(net, rogue)
    job = await rogue.assignment()
    await rogue.send(b"\x00\xffnot even utf-8", b'{"type": "token"}')
    await rogue.send(token(job, "still"), done(job, 3, 1))
    finished = await settled(net, job_id)
    assert finished["status"] == "completed" and finished["result"]["content"] == "still"
    assert finished["node_id"] == rogue.node_id


async def test_tokens_for_other_attempts_and_jobs_are_ignored(
    net: Harness, rogue: RogueNode
) -> None:
    job_id = await submit(net, rogue)
    job = await rogue.assignment()
    for attempt in (0, 2, -1, 10**30):
        await rogue.send(token(job, " WRONG", attempt=attempt))
    await rogue.send(token({**job, "job_id": "job_someone_else"}, " WRONG"))
    await rogue.send(token(job, "right"), done(job, 3, 1))
    finished = await settled(net, job_id)
    assert finished["result"]["content"] == "right"


async def test_oversize_error_and_finish_reason_strings_are_stored_bounded(
    net: Harness, rogue: RogueNode
) -> None:
    first = await submit(net, rogue)
    job = await rogue.assignment()
    await rogue.send(token(job, "a"), done(job, 3, 1, finish_reason="y" * 100_000))
    assert (await settled(net, first))["status"] == "completed"
    second = await submit(net, rogue)
    job = await rogue.assignment()
    failed = {"type": "failed", "job_id": second, "attempt": job["attempt"]}
    await rogue.send({**failed, "error": "e" * 100_000, "message": "m" * 1_000_000})
    ended = await settled(net, second)
    assert ended["status"] == "failed"
    assert len(ended["error"]) <= 40 and len(ended["error_message"]) <= 2000
    await books(net)


async def test_a_channel_torn_down_mid_job_ends_every_hold(tmp_path: Path) -> None:
    """The rogue streams two tokens and drops its channel: an honest node finishes the
    answer, the rogue is paid the two tokens relayed, the hold is settled."""
    settings = Settings(payments_enabled=True, platform_key_path=str(tmp_path / "p.key"))
    async with running(tmp_path, settings) as net:
        rogue = RogueNode(net.url)
        await rogue.join([MODEL])
        await rogue.open_channel()
        await net.control_plane.wait_serving(MODEL, 1, timeout=10)
        async with net.client() as api:
            body = {"model": MODEL, "messages": PROMPT, "max_tokens": 4}
            job_id = (await api.post("/api/v1/jobs", json=body)).json()["id"]
        job = await rogue.assignment()
        await net.add_node(ScriptedBackend([MODEL], tokens=[" c", "."]))
        await rogue.send(token(job, "a"), token(job, " b"))
        await asyncio.sleep(0.2)
        await rogue.close()
        finished = await settled(net, job_id)
        assert finished["status"] == "completed"
        assert finished["result"]["content"] == "a b c."
        assert finished["result"]["usage"]["completion_tokens"] <= 4
        await books(net)


async def test_a_node_lost_after_streaming_max_tokens_is_not_replaced(
    net: Harness, rogue: RogueNode
) -> None:
    """Nothing is left to produce: the job completes with what was relayed, never more
    than max_tokens (a replacement node would be asked for one token more)."""
    job_id = await submit(net, rogue, max_tokens=2)
    job = await rogue.assignment()
    await rogue.send(token(job, "a"), token(job, " b"))
    await asyncio.sleep(0.2)
    await rogue.close()
    finished = await settled(net, job_id)
    assert finished["status"] == "completed" and finished["result"]["content"] == "a b"
    assert finished["result"]["usage"]["completion_tokens"] == 2
    await books(net)


# --- routing ----------------------------------------------------------------------------


async def answer_honestly(rogue: RogueNode) -> None:
    """From now on, answer every job the rogue is given (so any routed to it complete)."""
    while True:
        job = await rogue.assignment()
        await rogue.send(token(job, "ok"), done(job, 3, 1))


async def test_a_repeat_offender_gets_no_more_jobs(
    net: Harness, rogue: RogueNode, operator_key: str
) -> None:
    for _ in range(3):
        job_id = await submit(net, rogue, max_tokens=5)
        job = await rogue.assignment()
        await rogue.send(token(job, "hi"), done(job, 1, 10_000_000))
        await settled(net, job_id)
    assert (await flagged(net, operator_key, rogue))["offences"] == 3
    answering = asyncio.create_task(answer_honestly(rogue))
    try:
        async with net.client() as api:
            body = {"model": MODEL, "messages": PROMPT}
            ids = [(await api.post("/api/v1/jobs", json=body)).json()["id"] for _ in range(6)]
        nodes = {(await settled(net, job_id))["node_id"] for job_id in ids}
    finally:
        answering.cancel()
    assert rogue.node_id not in nodes
