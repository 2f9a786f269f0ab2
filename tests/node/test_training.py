"""The node's training worker (node/training.py) around its requests: it works only when
the operator opted in, and while a shard trains the node offers one inference slot
fewer, never none. (Claiming, training and reporting run for real in
tests/train/test_market*.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

from infernet.node.client import ControlPlaneClient
from infernet.node.config import NodeConfig
from infernet.node.training import training_home, training_worker
from infernet.protocol.keys import NodeKey


def test_a_training_shard_takes_one_inference_slot_never_the_last() -> None:
    busy = training_worker(
        ControlPlaneClient("http://127.0.0.1:9", NodeKey.generate()),
        NodeKey.generate(),
        NodeConfig(accept_training=True),
        None,
    )
    assert [busy.capacity(n) for n in (1, 2, 4)] == [1, 2, 4]
    busy.busy = True
    assert [busy.capacity(n) for n in (1, 2, 4)] == [1, 1, 3]


async def test_without_accept_training_the_worker_asks_for_nothing(tmp_path: Path) -> None:
    idle = training_worker(
        ControlPlaneClient("http://127.0.0.1:9", NodeKey.generate(), timeout=0.5),
        NodeKey.generate(),
        NodeConfig(key_path=str(tmp_path / "keys" / "node.key")),
        None,
    )
    await asyncio.wait_for(idle.run(asyncio.Event()), 1)  # returns at once, no polling


def test_shards_train_beside_the_key_folder_unless_training_dir_says_otherwise(
    tmp_path: Path,
) -> None:
    default = NodeConfig(key_path=str(tmp_path / "keys" / "node.key"))
    assert training_home(default) == tmp_path / "training"
    chosen = NodeConfig(training_dir=str(tmp_path / "elsewhere"))
    assert training_home(chosen) == tmp_path / "elsewhere"


def test_accept_training_comes_from_the_environment_too() -> None:
    from infernet.node.config import apply_env_overrides

    config = apply_env_overrides(NodeConfig(), {"INFERNET_ACCEPT_TRAINING": "1"})
    assert config.accept_training is True
