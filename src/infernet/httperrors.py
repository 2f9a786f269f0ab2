"""HTTP failures as words an operator can act on, instead of Python's reprs.

httpx reports a refused connection as `ConnectError('All connection attempts failed')`
(async) or `ConnectError('[Errno 111] Connection refused')` (sync); the reason is in the
chain of causes below it. `describe` walks that chain once, for every caller that talks
to an engine or a control plane (backends, node client, CLI), so they all say the same.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import httpx

_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused: nothing is listening there",
    errno.ECONNRESET: "the connection was reset",
    errno.EHOSTUNREACH: "the host is unreachable",
    errno.ENETUNREACH: "the network is unreachable",
    errno.ETIMEDOUT: "the connection timed out",
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _os_reason(exc: BaseException) -> str | None:
    for link in _chain(exc):
        if isinstance(link, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(link, OSError) and link.errno in _ERRNO_WORDS:
            return _ERRNO_WORDS[link.errno]
    return None


def describe(exc: httpx.HTTPError) -> str:
    """A short phrase for why an HTTP call failed (no URL: callers say where)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "no answer to the connection attempt (connect timeout)"
    if isinstance(exc, httpx.TimeoutException):
        return "it stopped answering (timeout)"
    if (reason := _os_reason(exc)) is not None:
        return reason
    text = str(exc).strip()
    if isinstance(exc, httpx.RemoteProtocolError):
        return text or "it closed the connection mid-answer"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "the URL must start with http:// or https://"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect ({text})" if text else "could not connect"
    return text or type(exc).__name__
