"""Passwords and session cookies for the dashboard.

Passwords: `hashlib.scrypt` (N=2^14, r=8, p=1, 16-byte salt, 32-byte key), stored as
`scrypt$N$r$p$salt$hash` so the cost can rise later without breaking old hashes.

Sessions: the cookie holds a random 256-bit token and its HMAC-SHA256 under a secret
kept beside the database (`dashboard.secret`, mode 0600, next to `platform.key`); the
server stores only the token's SHA-256, so a stolen database holds no usable cookie and
signing out deletes the session for good. The cookie is HttpOnly and SameSite=Lax (no
cross-site form posts carry it), Secure when the control plane's public URL is https;
state-changing requests must also come from the dashboard's own origin
(`session.same_origin`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 2**14, 8, 1, 32
COOKIE_NAME = "infernet_session"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        found = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(found, expected)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CookieSigner:
    """Signs and checks session cookie values: `<token>.<hmac>`."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def new_cookie(self) -> tuple[str, str]:
        """A fresh (cookie value, token) pair."""
        token = secrets.token_urlsafe(32)
        return f"{token}.{self._mac(token)}", token

    def token_of(self, cookie: str) -> str | None:
        """The token in a cookie whose signature checks out, else None."""
        token, _, mac = cookie.rpartition(".")
        if not token or not hmac.compare_digest(mac, self._mac(token)):
            return None
        return token

    def _mac(self, token: str) -> str:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()


def load_or_create_secret(path: Path) -> bytes:
    """The cookie-signing secret at `path`, created there (0600, atomically) if absent."""
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex())
    os.replace(tmp, path)
    return secret
