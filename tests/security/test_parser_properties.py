"""The protocol parsers under arbitrary input (hypothesis): each either returns its value
or raises its own documented error type, never anything else, and what we write we read
back unchanged.

- `parse_auth_header` -> AuthHeader | AuthError; AuthHeader.render() round-trips.
- `from_node_adapter` / `to_node_adapter` -> a wire message | pydantic ValidationError;
  model_dump_json() round-trips.
- `parse_model_name` / `routing_key` never fail (documented), and a routing key is its
  own routing key (an Ollama name whose size is in its base, `mistral-7b-instruct:latest`,
  broke this; fixed in `_parse_ollama`).
- `parse_config` -> NodeConfig | ConfigError (naming the file); a saved config reads back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from infernet.node.config import ConfigError, NodeConfig, parse_config
from infernet.protocol.modelnames import parse_model_name, routing_key
from infernet.protocol.signing import AuthError, AuthHeader, parse_auth_header
from infernet.protocol.wire import (
    ChatMessageIn,
    JobAssignment,
    JobCancel,
    JobDone,
    JobFailed,
    JobToken,
    JobTokens,
    UsageReport,
    from_node_adapter,
    to_node_adapter,
)

PROPS = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
CONFIG = Path("/etc/infernet/config.json")

hex_text = st.text("0123456789abcdef", min_size=0, max_size=140)
header_parts = st.lists(st.one_of(hex_text, st.text(max_size=20), st.just("v1")), max_size=6)
headers = st.one_of(st.text(max_size=300), header_parts.map(".".join))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)
message_fields = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["token", "done", "failed", "job", "cancel", "other"]),
        "job_id": st.one_of(st.text(max_size=20), st.integers()),
        "attempt": json_values,
        "text": json_values,
        "usage": json_values,
        "error": json_values,
        "message": json_values,
        "model": json_values,
        "messages": json_values,
        "max_tokens": json_values,
        "temperature": json_values,
        "top_p": json_values,
    },
)
wire_texts = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    message_fields.map(json.dumps),
)


@PROPS
@given(headers)
def test_an_auth_header_parses_or_is_refused_as_malformed(value: str) -> None:
    try:
        parsed = parse_auth_header(value)
    except AuthError as exc:
        assert exc.code == "malformed"
        return
    assert parse_auth_header(parsed.render()) == parsed


@PROPS
@given(
    st.binary(min_size=64, max_size=64),
    st.binary(min_size=16, max_size=16),
    st.integers(min_value=0, max_value=10**12 - 1),
)
def test_an_auth_header_round_trips(signature: bytes, nonce: bytes, timestamp: int) -> None:
    header = AuthHeader(signature=signature, nonce=nonce.hex(), timestamp=timestamp)
    assert parse_auth_header(header.render()) == header


@PROPS
@given(wire_texts)
def test_any_text_from_a_node_is_a_message_or_a_validation_error(text: str) -> None:
    try:
        message = from_node_adapter.validate_json(text)
    except ValidationError:
        return
    assert from_node_adapter.validate_json(message.model_dump_json()) == message


@PROPS
@given(wire_texts)
def test_any_text_to_a_node_is_a_message_or_a_validation_error(text: str) -> None:
    try:
        message = to_node_adapter.validate_json(text)
    except ValidationError:
        return
    assert to_node_adapter.validate_json(message.model_dump_json()) == message


@pytest.mark.usefixtures("deep_recursion_limit")
def test_deeply_nested_wire_json_is_a_validation_error_not_a_crash() -> None:
    for adapter in (from_node_adapter, to_node_adapter):
        with pytest.raises(ValidationError):
            adapter.validate_json("[" * 100_000 + "]" * 100_000)


ints = st.integers(min_value=-(2**40), max_value=2**40)
counts = st.integers(min_value=0, max_value=2**40)  # usage is never negative (wire.Count)
node_messages = st.one_of(
    st.builds(JobToken, job_id=st.text(), attempt=ints, text=st.text()),
    st.builds(JobTokens, job_id=st.text(), attempt=ints, texts=st.lists(st.text(), min_size=1)),
    st.builds(
        JobDone,
        job_id=st.text(),
        attempt=ints,
        usage=st.builds(UsageReport, prompt_tokens=counts, completion_tokens=counts),
        finish_reason=st.text(),
    ),
    st.builds(JobFailed, job_id=st.text(), attempt=ints, error=st.text(), message=st.text()),
)
finite = st.floats(allow_nan=False, allow_infinity=False)
control_messages = st.one_of(
    st.builds(JobCancel, job_id=st.text()),
    st.builds(
        JobAssignment,
        job_id=st.text(),
        attempt=ints,
        model=st.text(),
        messages=st.lists(
            st.builds(ChatMessageIn, role=st.sampled_from(["system", "user", "assistant"])),
            max_size=3,
        ),
        max_tokens=ints,
        temperature=finite,
        top_p=finite,
        stop=st.lists(st.text(), max_size=3),
        seed=st.none() | ints,
    ),
)


@PROPS
@given(node_messages)
def test_every_node_message_round_trips(
    message: JobToken | JobTokens | JobDone | JobFailed,
) -> None:
    assert from_node_adapter.validate_json(message.model_dump_json()) == message


@PROPS
@given(control_messages)
def test_every_control_plane_message_round_trips(message: JobAssignment | JobCancel) -> None:
    assert to_node_adapter.validate_json(message.model_dump_json()) == message


ollama_names = st.from_regex(r"[A-Za-z0-9._/-]{0,30}(:[A-Za-z0-9._-]{1,12})?", fullmatch=True)
file_names = st.from_regex(r"(hf:|hf\.co/)?[A-Za-z0-9._/-]{0,30}(\.gguf)?", fullmatch=True)
model_names = st.one_of(st.text(max_size=60), ollama_names, file_names)


@PROPS
@given(model_names)
def test_any_model_name_parses_and_its_routing_key_is_stable(name: str) -> None:
    gguf_with_colon = ":" in name and name.strip().lower().endswith(".gguf")
    assume(not gguf_with_colon)  # the xfail below
    parsed = parse_model_name(name)
    assert parsed.raw == name.strip()
    key = routing_key(name)
    assert isinstance(key, str)
    assert routing_key(key) == key, "a routing key routes to itself"


@pytest.mark.xfail(
    strict=True,
    reason="modelnames: a ':' inside a GGUF file name ('a:.gguf') gives the routing key "
    "'a:', whose own routing key is 'a' (the ':' is read as an Ollama tag separator)",
)
@pytest.mark.parametrize("name", ["a:.gguf", "llama-7b:q4.gguf"])
def test_a_colon_in_a_gguf_name_gives_a_routing_key_that_is_its_own_routing_key(name: str) -> None:
    key = routing_key(name)
    assert routing_key(key) == key


config_values = st.fixed_dictionaries(
    {},
    optional={
        "node_id": json_values,
        "name": json_values,
        "control_plane_url": json_values,
        "served_models": json_values,
        "max_concurrent_jobs": json_values,
        "heartbeat_interval_s": json_values,
        "metrics_port": json_values,
        "env": json_values,
        "vllm_instances": json_values,
        "controlPlane": json_values,
        "node": json_values,
        "engine": json_values,
    },
)
config_texts = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    config_values.map(lambda d: json.dumps(d, indent=2)),
)


@PROPS
@given(config_texts)
def test_any_config_text_is_a_config_or_a_config_error_naming_the_file(text: str) -> None:
    try:
        config = parse_config(text, CONFIG)
    except ConfigError as exc:
        assert str(exc).startswith(str(CONFIG))
        return
    assert isinstance(config, NodeConfig)


@pytest.mark.usefixtures("deep_recursion_limit")  # the CLI may have imported web3
def test_a_pathologically_nested_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=str(CONFIG)):
        parse_config("[" * 100_000 + "]" * 100_000, CONFIG)


@PROPS
@given(
    st.builds(
        NodeConfig,
        name=st.text(),
        served_models=st.lists(st.text(), max_size=3),
        max_concurrent_jobs=st.integers(min_value=1, max_value=256),
        heartbeat_interval_s=st.floats(min_value=0.001, max_value=1e6),
        env=st.dictionaries(st.text(), st.text(), max_size=3),
    )
)
def test_a_saved_config_reads_back_unchanged(config: NodeConfig) -> None:
    assert parse_config(config.model_dump_json(indent=2), CONFIG) == config


def test_an_ollama_import_named_like_a_repo_routes_with_the_repo_name() -> None:
    assert routing_key("mistral-7b-instruct:latest") == routing_key("mistral-7b-instruct")
    assert routing_key("qwen2.5-7b-instruct:q4_k_m") == routing_key("qwen2.5:7b")
