"""The whole HTTP API, fuzzed from its own OpenAPI schema (schemathesis): whatever a
client sends to any operation, authenticated with a real API key, the control plane never
answers 5xx, and every answer it documents matches the documented schema and media type.

Money and header fields are fuzzed with values a parser is likely to choke on, not just
any text: every field the schema marks `format: decimal` (deposit amounts, prices) and
every `format: event-id` header (`Last-Event-ID`) draws exponents, huge and signed
numbers, other scripts' digits, spaces and separators (`NASTY_DECIMALS`,
`NASTY_EVENT_IDS`); `test_money_and_header_fields_never_answer_a_server_error` sends them
where they are parsed, as a caller allowed to reach the parser.

Bounded: a few examples per operation (FUZZ_EXAMPLES) so the run stays well under
two minutes on 2 cores. Documenting 401/429 on every route is not checked here
(status_code_conformance): several node routes do not list them yet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from infernet.controlplane.settings import Settings
from infernet.protocol.signing import sign_request
from tests.security.background import ThreadedHarness, threaded

FUZZ_EXAMPLES = 16
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
NASTY_DECIMALS = st.one_of(
    st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{1,10})?([eE][-+]?[0-9]{1,4})?", fullmatch=True),
    st.text(st.sampled_from("0123456789.-+eE_ ,\u00b2\u0663\uff10\u00bd"), max_size=40),
    st.sampled_from(["1e22", "1e309", "-1e309", "1" * 400, "\uff11\uff10", " 10 ", "1_000"]),
    st.sampled_from(["NaN", "-Infinity", "sNaN", "0x10", "1e-400", "10.0000001", ""]),
)
NASTY_EVENT_IDS = st.one_of(
    st.from_regex(r"[0-9]{1,40}", fullmatch=True),
    st.sampled_from(["\u00b2", "\u00b9", "1\u00b3", "\u00bd", "9" * 4301, "-1", "1.0", "1 2"]),
    st.text(LATIN1, max_size=20).map(str.strip),  # HTTP clients send no edge spaces
)
schemathesis.openapi.format("decimal", NASTY_DECIMALS)
schemathesis.openapi.format("event-id", NASTY_EVENT_IDS)


def fuzzed_network(home: Path) -> Iterator[ThreadedHarness]:
    # open_deposits: the client's deposits reach the amount parser (else an admin action).
    with threaded(home, Settings(payments_enabled=True, open_deposits=True)) as harness:
        yield harness


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedHarness]:
    yield from fuzzed_network(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[ThreadedHarness]:
    """A network of its own (the whole-API fuzzing may have deregistered `net`'s node)."""
    yield from fuzzed_network(tmp_path)


def operations(net: ThreadedHarness) -> list[schemathesis.APIOperation]:
    raw = httpx.get(f"{net.url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(raw)
    return [result.ok() for result in schema.get_all_operations()]


def cases(operation: schemathesis.APIOperation) -> st.SearchStrategy[schemathesis.Case]:
    """Valid-shaped requests and requests that break the schema, half and half."""
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    return st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))


def fuzz(net: ThreadedHarness, operation: schemathesis.APIOperation) -> None:
    session = requests.Session()

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases(operation), authenticated=st.booleans())
    def probe(case: schemathesis.Case, authenticated: bool) -> None:
        request = requests.Request(**case.as_transport_kwargs(base_url=net.url)).prepare()
        if authenticated:  # both a client's bearer key and the node's signature
            request.headers.update(net.headers)
            body = request.body or b""
            body = body.encode() if isinstance(body, str) else body
            node_key = net.harness.nodes[0].key
            request.headers.update(sign_request(node_key, case.method, request.path_url, body))
        response = session.send(request, timeout=30)
        case.validate_response(response, checks=CHECKS)

    probe()


def test_no_operation_answers_a_server_error_or_breaks_its_schema(net: ThreadedHarness) -> None:
    ops = operations(net)
    assert len(ops) > 40, "the whole API is in the schema"
    failures: list[str] = []
    for operation in ops:
        try:
            try:
                fuzz(net, operation)
            except FlakyStrategyDefinition:
                # Hypothesis could not replay its own draw while shrinking (seen once in a
                # full run, on the training report: the control plane's thread drew from
                # the process-wide `random`, which its router no longer does): the
                # operation is probed afresh, and a second failure of any kind counts.
                fuzz(net, operation)
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    # The harness is still healthy after the fuzzing (its key was not revoked, ...).
    assert httpx.get(f"{net.url}/api/v1/account", headers=net.headers).status_code == 200


def test_money_and_header_fields_never_answer_a_server_error(fresh: ThreadedHarness) -> None:
    net, session = fresh, requests.Session()
    url, node_key = net.url, net.harness.nodes[0].key
    job = session.post(
        f"{url}/api/v1/jobs",
        json={"model": "m:1b", "messages": [{"role": "user", "content": "hi"}]},
        headers=net.headers,
        timeout=30,
    ).json()["id"]

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(amount=NASTY_DECIMALS, event_id=NASTY_EVENT_IDS)
    def probe(amount: str, event_id: str) -> None:
        deposit = session.post(
            f"{url}/api/v1/billing/deposits", json={"amount": amount}, headers=net.headers
        )
        body = json.dumps({"model": "m:1b", "input_per_1k": amount, "output_per_1k": "0.001"})
        path = "/api/v1/nodes/me/prices"
        signed = {"content-type": "application/json"}
        signed.update(sign_request(node_key, "PUT", path, body.encode()))
        price = session.put(f"{url}{path}", data=body, headers=signed)
        headers = {**net.headers, "Last-Event-ID": event_id.encode("latin-1")}
        stream = session.get(f"{url}/api/v1/jobs/{job}/stream", headers=headers, timeout=30)
        for answer in (deposit, price, stream):
            assert answer.status_code < 500, (amount, event_id, answer.status_code, answer.text)
            assert answer.headers["content-type"].startswith(("application/json", "text/event"))

    probe()
