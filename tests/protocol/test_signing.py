"""X-Infernet-Auth: what a node sends, and every way the control plane refuses it."""

from __future__ import annotations

import hashlib

import pytest

from infernet.protocol.keys import NodeKey, verify_schnorr
from infernet.protocol.signing import (
    AUTH_HEADER,
    EMPTY_BODY_SHA256,
    NODE_HEADER,
    AuthError,
    MemoryNonceStore,
    RequestVerifier,
    canonical_message,
    parse_auth_header,
    request_target,
    request_target_from_scope,
    sign_request,
)

NOW = 1_777_000_000.0
NONCE = "00112233445566778899aabbccddeeff"
BODY = b'{"node_id":"n1","status":"online"}'
PATH = "/api/v1/heartbeat"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key() -> NodeKey:
    return NodeKey.generate()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(clock: Clock) -> RequestVerifier:
    return RequestVerifier(clock=clock)


def _signed(
    key: NodeKey,
    method: str = "POST",
    path: str = PATH,
    body: bytes = BODY,
    *,
    now: float = NOW,
    nonce: str | None = None,
) -> dict[str, str]:
    return sign_request(key, method, path, body, now=now, nonce=nonce)


async def _reason(
    verifier: RequestVerifier,
    headers: dict[str, str],
    method: str = "POST",
    path: str = PATH,
    body: bytes = BODY,
) -> AuthError:
    with pytest.raises(AuthError) as info:
        await verifier.verify(headers, method, path, body)
    return info.value


# --- The wire format ---------------------------------------------------------------------


def test_header_shape(key: NodeKey) -> None:
    headers = _signed(key, nonce=NONCE)
    version, sig, nonce, ts = headers[AUTH_HEADER].split(".")
    assert (version, nonce, ts) == ("v1", NONCE, "1777000000")
    assert len(sig) == 128
    assert headers[NODE_HEADER] == key.public_hex


def test_signed_message_layout_and_empty_body_rule() -> None:
    message = canonical_message("get", "/api/v1/jobs?limit=5", b"", NONCE, 1777000000)
    assert message == (
        b"GET\n/api/v1/jobs?limit=5\n"
        b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        b"00112233445566778899aabbccddeeff\n1777000000"
    )
    assert hashlib.sha256(b"").hexdigest() == EMPTY_BODY_SHA256


def test_signature_is_schnorr_over_sha256_of_the_message(key: NodeKey) -> None:
    headers = _signed(key, nonce=NONCE)
    sig = bytes.fromhex(headers[AUTH_HEADER].split(".")[1])
    digest = hashlib.sha256(canonical_message("POST", PATH, BODY, NONCE, int(NOW))).digest()
    assert verify_schnorr(key.public_hex, digest, sig)


def test_fresh_nonce_per_request(key: NodeKey) -> None:
    first = parse_auth_header(_signed(key)[AUTH_HEADER])
    second = parse_auth_header(_signed(key)[AUTH_HEADER])
    assert first.nonce != second.nonce
    assert len(first.nonce) == 32


def test_request_target_includes_the_query_string() -> None:
    assert request_target("/api/v1/jobs") == "/api/v1/jobs"
    assert request_target("/api/v1/jobs", "limit=5") == "/api/v1/jobs?limit=5"
    scope = {"path": "/m/a b", "raw_path": b"/m/a%20b", "query_string": b"x=1"}
    assert request_target_from_scope(scope) == "/m/a%20b?x=1"
    assert request_target_from_scope({"path": "/p", "query_string": b""}) == "/p"


# --- Accepted ----------------------------------------------------------------------------


async def test_round_trip_returns_the_signers_public_key(
    key: NodeKey, verifier: RequestVerifier
) -> None:
    assert await verifier.verify(_signed(key), "POST", PATH, BODY) == key.public_hex


async def test_get_with_empty_body_and_query(key: NodeKey, verifier: RequestVerifier) -> None:
    headers = sign_request(key, "get", "/api/v1/jobs?limit=5", now=NOW)
    assert await verifier.verify(headers, "GET", "/api/v1/jobs?limit=5", b"") == key.public_hex


async def test_header_names_are_case_insensitive(key: NodeKey, verifier: RequestVerifier) -> None:
    headers = {k.lower(): v for k, v in _signed(key).items()}
    assert await verifier.verify(headers, "POST", PATH, BODY) == key.public_hex


@pytest.mark.parametrize("offset", [-30.0, 30.0, -29.5, 12.0])
async def test_skew_inside_the_window_is_fine(
    key: NodeKey, verifier: RequestVerifier, clock: Clock, offset: float
) -> None:
    clock.now = NOW + offset
    assert await verifier.verify(_signed(key), "POST", PATH, BODY) == key.public_hex


# --- Refused -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", PATH, BODY + b" "),
        ("POST", PATH, b""),
        ("PUT", PATH, BODY),
        ("POST", "/api/v1/heartbeat2", BODY),
        ("POST", PATH + "?x=1", BODY),
    ],
    ids=["body", "emptied-body", "method", "path", "query"],
)
async def test_tampering_breaks_the_signature(
    key: NodeKey, verifier: RequestVerifier, method: str, path: str, body: bytes
) -> None:
    error = await _reason(verifier, _signed(key), method, path, body)
    assert error.code == "bad_signature"
    assert "bad signature" in str(error)


async def test_tampered_query_value(key: NodeKey, verifier: RequestVerifier) -> None:
    headers = sign_request(key, "GET", "/api/v1/jobs?limit=5", now=NOW)
    assert (
        await _reason(verifier, headers, "GET", "/api/v1/jobs?limit=500", b"")
    ).code == "bad_signature"


async def test_someone_elses_key_header(key: NodeKey, verifier: RequestVerifier) -> None:
    headers = _signed(key)
    headers[NODE_HEADER] = NodeKey.generate().public_hex
    assert (await _reason(verifier, headers)).code == "bad_signature"


async def test_tampered_nonce_or_timestamp(key: NodeKey, verifier: RequestVerifier) -> None:
    headers = _signed(key, nonce=NONCE)
    headers[AUTH_HEADER] = headers[AUTH_HEADER].replace(NONCE, "f" * 32)
    assert (await _reason(verifier, headers)).code == "bad_signature"
    headers = _signed(key)
    headers[AUTH_HEADER] = headers[AUTH_HEADER].replace("1777000000", "1777000001")
    assert (await _reason(verifier, headers)).code == "bad_signature"


@pytest.mark.parametrize(("offset", "word"), [(-31.0, "behind"), (31.0, "ahead of")])
async def test_skew_beyond_30_seconds_either_way(
    key: NodeKey, verifier: RequestVerifier, clock: Clock, offset: float, word: str
) -> None:
    clock.now = NOW - offset  # the request's timestamp sits `offset` from the server clock
    error = await _reason(verifier, _signed(key))
    assert error.code == "skew"
    assert f"31 s {word} the server clock" in str(error)


async def test_replay_is_refused(key: NodeKey, verifier: RequestVerifier, clock: Clock) -> None:
    headers = _signed(key)
    await verifier.verify(headers, "POST", PATH, BODY)
    clock.now += 10
    error = await _reason(verifier, headers)
    assert error.code == "replay"
    assert "already used" in str(error)


async def test_a_failed_attempt_does_not_burn_the_nonce(
    key: NodeKey, verifier: RequestVerifier
) -> None:
    headers = _signed(key)
    await _reason(verifier, headers, body=b"forged")
    assert await verifier.verify(headers, "POST", PATH, BODY) == key.public_hex


async def test_same_nonce_from_two_nodes_is_not_a_replay(verifier: RequestVerifier) -> None:
    first, second = NodeKey.generate(), NodeKey.generate()
    await verifier.verify(_signed(first, nonce=NONCE), "POST", PATH, BODY)
    assert (
        await verifier.verify(_signed(second, nonce=NONCE), "POST", PATH, BODY) == second.public_hex
    )


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda h: h.pop(AUTH_HEADER), "missing X-Infernet-Auth"),
        (lambda h: h.pop(NODE_HEADER), "missing X-Infernet-Node"),
        (lambda h: h.update({AUTH_HEADER: "garbage"}), "4 dot-separated parts"),
        (lambda h: h.update({AUTH_HEADER: "v2" + h[AUTH_HEADER][2:]}), "version 'v2'"),
        (lambda h: h.update({AUTH_HEADER: h[AUTH_HEADER] + ".x"}), "got 5"),
        (
            lambda h: h.update({AUTH_HEADER: h[AUTH_HEADER].upper().replace("V1", "v1")}),
            "lower-case hex",
        ),
        (
            lambda h: h.update({AUTH_HEADER: h[AUTH_HEADER].rsplit(".", 1)[0] + ".-5"}),
            "integer Unix seconds",
        ),
        (
            lambda h: h.update({AUTH_HEADER: h[AUTH_HEADER].rsplit(".", 1)[0] + ".17e8"}),
            "integer Unix seconds",
        ),
        (lambda h: h.update({NODE_HEADER: "not-a-key"}), "malformed X-Infernet-Node"),
    ],
    ids=[
        "no-auth",
        "no-node",
        "garbage",
        "version",
        "extra-part",
        "upper-hex",
        "negative-ts",
        "float-ts",
        "bad-node-key",
    ],
)
async def test_malformed_headers_say_what_is_wrong(
    key: NodeKey, verifier: RequestVerifier, mutate: object, needle: str
) -> None:
    headers = _signed(key, nonce=NONCE)
    assert callable(mutate)
    mutate(headers)
    error = await _reason(verifier, headers)
    assert needle in error.reason
    assert error.code in {"missing", "malformed"}


def test_short_signature_and_nonce_are_malformed() -> None:
    with pytest.raises(AuthError, match="signature must be 128"):
        parse_auth_header(f"v1.{'ab' * 63}.{NONCE}.1")
    with pytest.raises(AuthError, match="nonce must be 32"):
        parse_auth_header(f"v1.{'ab' * 64}.{NONCE[:-2]}.1")


def test_sign_request_refuses_a_malformed_nonce(key: NodeKey) -> None:
    with pytest.raises(ValueError, match="nonce"):
        sign_request(key, "GET", "/", nonce="xyz")


# --- The nonce store ---------------------------------------------------------------------


async def test_memory_nonce_store_expires_entries() -> None:
    clock = Clock(0.0)
    store = MemoryNonceStore(clock=clock)
    assert await store.seen_or_add("a", 300) is False
    assert await store.seen_or_add("a", 300) is True
    clock.now = 299.0
    assert await store.seen_or_add("a", 300) is True
    clock.now = 300.0
    assert await store.seen_or_add("a", 300) is False
    assert len(store) == 1


async def test_memory_nonce_store_is_bounded() -> None:
    store = MemoryNonceStore(max_entries=3, clock=Clock(0.0))
    for nonce in "abcd":
        await store.seen_or_add(nonce, 300)
    assert len(store) == 3
    assert await store.seen_or_add("a", 300) is False  # the oldest was evicted
    assert await store.seen_or_add("d", 300) is True


async def test_verifier_uses_an_injected_nonce_store(key: NodeKey, clock: Clock) -> None:
    calls: list[tuple[str, float]] = []

    class Recording:
        async def seen_or_add(self, nonce: str, ttl: float) -> bool:
            calls.append((nonce, ttl))
            return False

    verifier = RequestVerifier(clock=clock, nonce_ttl_s=120, nonce_store=Recording())
    await verifier.verify(_signed(key, nonce=NONCE), "POST", PATH, BODY)
    assert calls == [(f"{key.public_hex}:{NONCE}", 120)]
