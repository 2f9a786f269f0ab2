"""A realistic population of nodes for the router and heartbeat benchmarks.

Models follow a Zipf-like popularity (a few models on most nodes, a long tail on few);
each node serves one to three of them, most of them hot. Capacity varies (1-8 slots) and
so does load; a few nodes are offline, without a job channel or with a sick backend, so
the router's filters have real work to do. Seeded: the same population every run.
"""

from __future__ import annotations

import random
import time

from infernet import __version__
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from infernet.protocol.wire import Heartbeat, JobAssignment, JobCancel, NodeLoad, ServedModel

MODELS = (
    "qwen2.5:7b", "llama3.1:8b", "mistral:7b", "qwen2.5:14b", "gemma2:9b", "phi3:3.8b",
    "deepseek-r1:14b", "llama3.2:3b", "qwen2.5-coder:7b", "llama3.1:70b", "qwen2.5:72b",
    "gemma2:27b", "mixtral:8x7b", "deepseek-r1:32b", "qwen2.5:32b", "phi4:14b",
    "mistral-nemo:12b", "codellama:13b", "llama3.2:1b", "qwen2.5:0.5b", "smollm2:135m",
    "smollm2:1.7b", "granite3.1-dense:8b", "command-r:35b", "yi:34b", "olmo2:13b",
    "starcoder2:15b", "deepseek-coder-v2:16b", "nemotron-mini:4b", "falcon3:10b",
)  # fmt: skip
WEIGHTS = tuple(1.0 / (rank + 1) for rank in range(len(MODELS)))
TIERS = ("cpu", ">=8gb", ">=12gb", ">=24gb", ">=48gb")


class NullChannel:
    """An open job channel that drops what it is sent (routing never sends)."""

    async def send(self, message: JobAssignment | JobCancel) -> None:
        return None


def heartbeat_for(rng: random.Random) -> Heartbeat:
    served = set(rng.choices(MODELS, WEIGHTS, k=rng.randint(1, 3)))
    return Heartbeat(
        version=__version__,
        backend=rng.choice(("ollama", "vllm", "llamacpp", "sglang")),
        backend_healthy=True,
        served_models=[ServedModel(name=m, loaded=rng.random() < 0.8) for m in sorted(served)],
        vram_tier=rng.choice(TIERS),
        load=NodeLoad(active_jobs=0, max_concurrent_jobs=rng.choice((1, 2, 4, 8))),
    )


def _shape(node: NodeState, rng: random.Random) -> None:
    roll = rng.random()
    if roll < 0.05:
        node.last_seen = time.monotonic() - 10_000  # offline
    elif roll < 0.08:
        node.channel = None
    elif roll < 0.10:
        node.backend_healthy = False
    busy = rng.randint(0, node.max_concurrent)
    node.active_jobs = {f"job_{node.node_id}_{j}" for j in range(busy)}
    if hasattr(node, "record_job"):
        node.record_job(rng.uniform(0.5, 20.0), rng.randint(20, 800))


def build_registry(size: int, seed: int = 7, offline_after_s: float = 90.0) -> NodeRegistry:
    rng = random.Random(seed)
    registry = NodeRegistry(offline_after_s)
    channel = NullChannel()
    for i in range(size):
        node = registry.ensure(f"node_{i:06d}", f"{i:064x}")
        registry.apply_heartbeat(node, heartbeat_for(rng))
        node.channel = channel
        _shape(node, rng)
    return registry
