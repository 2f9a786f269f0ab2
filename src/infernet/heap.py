"""What a server builds at start, kept out of the garbage collector's way while it runs.

A control plane is ~180,000 objects once started (modules, pydantic schemas, routes,
registries), nearly all alive until it stops, and each full collection walks every one of
them while the event loop waits. `gc.freeze()` moves what is alive now out of the
collector's generations, so later collections walk only what was made since. Measured on
the control plane under load (`python -m bench.relay_cpu --concurrency 32 --rounds 12`):
collection time 0.18 → 0.06 s per run of 1,920 jobs, CPU per job −1 to −4 %, relayed
TTFT p99 100–103 → 67–72 ms (no full collection pausing the loop).

The objects come back to the collector when the server stops (`gc.unfreeze()`), so a
process that starts and stops many servers (the test suite) keeps none frozen for good.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def startup_frozen() -> Iterator[None]:
    """Run the body (a started server's life) with everything alive now frozen."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
