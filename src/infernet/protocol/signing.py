"""Node request authentication: the ``X-Infernet-Auth`` header (Book §6.1).

Owns how a node signs an HTTP request to the control plane and how the control plane checks
it. Both sides import this module, so the byte layout below exists in exactly one place.

Wire format (two headers on every signed request)::

    X-Infernet-Auth: v1.<signature hex, 128>.<nonce hex, 32>.<unix seconds>
    X-Infernet-Node: <node public key, 64 hex, BIP-340 x-only>

Signed digest: ``SHA-256(UTF-8("METHOD\\npath\\nbody_sha256\\nnonce\\ntimestamp"))``, signed
with BIP-340 Schnorr by the node key.

Decisions where the Book is silent or ambiguous (spec Appendix A, items 2 and 3):

* ``METHOD`` is upper-cased. ``path`` is the request target exactly as sent on the wire:
  the percent-encoded path plus ``?query`` when there is a query string (so query
  parameters are signed too). Servers must rebuild it from the raw request line; see
  `request_target_from_scope` for ASGI.
* ``body_sha256`` is the lower-case hex SHA-256 of the raw body bytes. An empty body is
  hashed like any other, giving ``e3b0c442…b855`` -- never the empty string -- so every
  message has the same five-line shape.
* The nonce is 16 random bytes as 32 lower-case hex characters; the timestamp is integer
  Unix seconds.
* Key lookup: the node names its public key in ``X-Infernet-Node``. The Book had the server
  find the key from a ``node_id`` in the body or URL, which a ``GET`` does not have and which
  forces parsing an unauthenticated body first. With the header, the verifier checks the
  signature against the named key and returns it; mapping key → node, and refusing unknown
  or revoked keys, is the caller's job. A forged header gains nothing: the signature only
  verifies under the key's owner.
* Order of checks: parse → clock skew (±30 s) → signature → nonce. The nonce is recorded
  only after the signature verifies, so unauthenticated traffic cannot fill the nonce cache,
  and a replay of a genuine request fails as a replay. Nonces are remembered 5 minutes per
  public key through the `NonceStore` protocol (in memory here; the control plane keeps
  them in its database, or in Redis across replicas, so a restart forgets none).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from infernet.protocol.keys import InvalidKeyError, NodeKey, PublicKeyCache

AUTH_HEADER = "X-Infernet-Auth"
NODE_HEADER = "X-Infernet-Node"
AUTH_VERSION = "v1"
DEFAULT_WINDOW_S = 30.0
DEFAULT_NONCE_TTL_S = 300.0
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()

_SIG_RE = re.compile(r"[0-9a-f]{128}")
_NONCE_RE = re.compile(r"[0-9a-f]{32}")
_TS_RE = re.compile(r"[0-9]{1,12}")


class AuthError(Exception):
    """A request failed authentication. ``reason`` says exactly why (safe to show the node).

    ``code`` is a short stable tag for logs and metrics: ``missing``, ``malformed``,
    ``skew``, ``bad_signature`` or ``replay``.
    """

    def __init__(self, reason: str, *, code: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True, slots=True)
class AuthHeader:
    """The parsed parts of an ``X-Infernet-Auth`` value."""

    signature: bytes
    nonce: str
    timestamp: int

    def render(self) -> str:
        return f"{AUTH_VERSION}.{self.signature.hex()}.{self.nonce}.{self.timestamp}"


def body_sha256_hex(body: bytes) -> str:
    """Lower-case hex SHA-256 of the raw body (``e3b0c442…`` for an empty body)."""
    return hashlib.sha256(body).hexdigest()


def canonical_message(method: str, path: str, body: bytes, nonce: str, timestamp: int) -> bytes:
    """The UTF-8 bytes whose SHA-256 is signed: five newline-joined lines."""
    lines = (method.upper(), path, body_sha256_hex(body), nonce, str(timestamp))
    return "\n".join(lines).encode("utf-8")


def request_digest(method: str, path: str, body: bytes, nonce: str, timestamp: int) -> bytes:
    """The 32-byte digest a node signs for this request."""
    return hashlib.sha256(canonical_message(method, path, body, nonce, timestamp)).digest()


def request_target(path: str, query: str = "") -> str:
    """Path plus ``?query`` when the query is non-empty: the string that gets signed."""
    return f"{path}?{query}" if query else path


def request_target_from_scope(scope: Mapping[str, object]) -> str:
    """The signed request target of an ASGI HTTP scope, from its raw (undecoded) bytes."""
    raw_path = scope.get("raw_path")
    if isinstance(raw_path, bytes):
        path = raw_path.decode("latin-1")
    else:
        path = str(scope.get("path", "/"))
    query = scope.get("query_string", b"")
    query_text = query.decode("latin-1") if isinstance(query, bytes) else ""
    return request_target(path, query_text)


def sign_request(
    key: NodeKey,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    now: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Headers authenticating one request: ``X-Infernet-Auth`` and ``X-Infernet-Node``.

    ``path`` must include the query string if the request has one. ``now`` and ``nonce``
    default to the current time and 16 fresh random bytes; tests pin them.
    """
    nonce = secrets.token_hex(16) if nonce is None else nonce
    if not _NONCE_RE.fullmatch(nonce):
        raise ValueError("nonce must be 32 lower-case hex characters")
    timestamp = int(time.time() if now is None else now)
    signature = key.sign(request_digest(method, path, body, nonce, timestamp))
    header = AuthHeader(signature=signature, nonce=nonce, timestamp=timestamp)
    return {AUTH_HEADER: header.render(), NODE_HEADER: key.public_hex}


def parse_auth_header(value: str) -> AuthHeader:
    """Split and validate an ``X-Infernet-Auth`` value; raise `AuthError` if malformed."""
    parts = value.strip().split(".")
    if len(parts) != 4:
        raise AuthError(
            f"malformed {AUTH_HEADER}: expected 4 dot-separated parts "
            f"'v1.<signature>.<nonce>.<timestamp>', got {len(parts)}",
            code="malformed",
        )
    version, sig_hex, nonce, ts_text = parts
    if version != AUTH_VERSION:
        raise AuthError(
            f"unsupported {AUTH_HEADER} version {version!r}; expected {AUTH_VERSION!r}",
            code="malformed",
        )
    checks = (
        (_SIG_RE, sig_hex, "signature must be 128 lower-case hex characters"),
        (_NONCE_RE, nonce, "nonce must be 32 lower-case hex characters"),
        (_TS_RE, ts_text, "timestamp must be integer Unix seconds"),
    )
    for pattern, text, problem in checks:
        if not pattern.fullmatch(text):
            raise AuthError(f"malformed {AUTH_HEADER}: {problem}", code="malformed")
    return AuthHeader(signature=bytes.fromhex(sig_hex), nonce=nonce, timestamp=int(ts_text))


class NonceStore(Protocol):
    """Remembers nonces for replay protection. One method, atomic check-and-record;
    async, so a store may keep them where a restart does not lose them (the control
    plane's database, or Redis)."""

    async def seen_or_add(self, nonce: str, ttl: float) -> bool:
        """True if ``nonce`` was recorded within its TTL; otherwise record it for ``ttl``
        seconds and return False."""
        ...


class MemoryNonceStore:
    """In-process `NonceStore` with expiry and a size bound (single control-plane replica).

    When full, the oldest entries are evicted first. Size it above the peak number of signed
    requests per skew window (2 × 30 s): a nonce evicted sooner than that could be replayed.
    """

    def __init__(
        self, max_entries: int = 200_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    async def seen_or_add(self, nonce: str, ttl: float) -> bool:
        now = self._clock()
        self._purge(now)
        expires = self._expiry.get(nonce)
        if expires is not None and expires > now:
            return True
        self._expiry[nonce] = now + ttl
        self._expiry.move_to_end(nonce)
        while len(self._expiry) > self._max_entries:
            self._expiry.popitem(last=False)
        return False

    def _purge(self, now: float) -> None:
        # Entries sit in insertion order; with one TTL that is also expiry order.
        while self._expiry:
            oldest, expires = next(iter(self._expiry.items()))
            if expires > now:
                break
            del self._expiry[oldest]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


class RequestVerifier:
    """Checks ``X-Infernet-Auth`` on incoming node requests; returns the signer's public key.

    Whether that key belongs to a registered, unrevoked node is for the caller to decide.
    """

    def __init__(
        self,
        window_s: float = DEFAULT_WINDOW_S,
        nonce_ttl_s: float = DEFAULT_NONCE_TTL_S,
        clock: Callable[[], float] = time.time,
        nonce_store: NonceStore | None = None,
        key_cache_size: int = 100_000,
    ) -> None:
        self.window_s = window_s
        self.nonce_ttl_s = nonce_ttl_s
        self._clock = clock
        self._nonces: NonceStore = MemoryNonceStore() if nonce_store is None else nonce_store
        self._keys = PublicKeyCache(key_cache_size)  # parsed once per node, not per request

    async def verify(self, headers: Mapping[str, str], method: str, path: str, body: bytes) -> str:
        """Return the verified public key hex, or raise `AuthError` saying why not.

        ``path`` is the request target as received, query string included.
        """
        public_hex, nonce = self.check_signature(headers, method, path, body)
        if await self._nonces.seen_or_add(f"{public_hex}:{nonce}", self.nonce_ttl_s):
            raise AuthError(
                f"replayed request: nonce {nonce} was already used in the last "
                f"{self.nonce_ttl_s:g} s",
                code="replay",
            )
        return public_hex

    def check_signature(
        self, headers: Mapping[str, str], method: str, path: str, body: bytes
    ) -> tuple[str, str]:
        """Everything `verify` checks but the nonce: (public key hex, nonce), or
        `AuthError`."""
        auth_value = _header(headers, AUTH_HEADER)
        node_value = _header(headers, NODE_HEADER)
        if auth_value is None:
            raise AuthError(f"missing {AUTH_HEADER} header", code="missing")
        if node_value is None:
            raise AuthError(f"missing {NODE_HEADER} header (the node's public key)", code="missing")
        auth = parse_auth_header(auth_value)
        try:
            public_hex, public = self._keys.parse(node_value)
        except InvalidKeyError as exc:
            raise AuthError(f"malformed {NODE_HEADER}: {exc}", code="malformed") from exc
        self._check_skew(auth.timestamp)
        digest = request_digest(method, path, body, auth.nonce, auth.timestamp)
        if not bool(public.verify(auth.signature, digest)):
            raise AuthError(
                "bad signature: it does not match this key, method, path, body, nonce "
                "and timestamp",
                code="bad_signature",
            )
        return public_hex, auth.nonce

    def _check_skew(self, timestamp: int) -> None:
        skew = timestamp - self._clock()
        if abs(skew) > self.window_s:
            direction = "ahead of" if skew > 0 else "behind"
            raise AuthError(
                f"timestamp is {abs(skew):.0f} s {direction} the server clock "
                f"(allowed ±{self.window_s:g} s); check the node's clock (NTP)",
                code="skew",
            )
