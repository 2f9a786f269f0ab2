"""The whole HTTP API, fuzzed from its own OpenAPI schema (schemathesis): whatever a
client sends to any operation, authenticated with a real API key, the control plane never
answers 5xx, and every answer it documents matches the documented schema and media type.

Bounded: a few examples per operation (FUZZ_EXAMPLES) so the run stays well under
two minutes on 2 cores. Documenting 401/429 on every route is not checked here
(status_code_conformance): several node routes do not list them yet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
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


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedHarness]:
    home: Path = tmp_path_factory.mktemp("fuzz")
    with threaded(home, Settings(payments_enabled=True)) as harness:
        yield harness


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
            fuzz(net, operation)
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    # The harness is still healthy after the fuzzing (its key was not revoked, ...).
    assert httpx.get(f"{net.url}/api/v1/account", headers=net.headers).status_code == 200
