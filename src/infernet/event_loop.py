"""The event loop a long-running process (control plane, node daemon, `infernet up`, the
benchmark's servers) runs on: uvloop where it is installed, asyncio's own where it is not
(Windows, which uvloop does not support).

uvloop with the httptools parser took the control plane's CPU per relayed job from 1.18
to 1.00 ms and the node's from 0.62 to 0.59 ms (docs/benchmarks.md, run 11). uvicorn picks
uvloop by itself (`loop="auto"`) when it creates the loop; this is for the processes that
create their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:  # Windows: the dependency is not installed there
        return asyncio.run(main)
    return uvloop.run(main)
