"""Multi-GPU (Book §9.1): parallelism and Ray settings reach the engine; heartbeats carry
every GPU and the combined tier."""

from __future__ import annotations

from pathlib import Path

from infernet.backends.detect import BackendSettings
from infernet.backends.launcher import LaunchSettings
from infernet.backends.sglang import SGLangBackend
from infernet.backends.vllm import VllmBackend
from infernet.node.config import NodeConfig
from infernet.node.daemon import NodeDaemon
from infernet.node.gpu_report import HardwareCache
from infernet.node.hardware import HardwareReport, detect_hardware
from infernet.protocol.keys import NodeKey
from tests.node.test_hardware import LINUX, linux_paths, nvidia
from tests.support.scripted import ScriptedBackend


def two_4090s(tmp_path: Path) -> HardwareReport:
    tools = nvidia("nvidia-smi-query.2x-rtx4090.csv", "nvidia-smi.rtx4090.txt")
    return detect_hardware(tools, host=LINUX, paths=linux_paths(tmp_path), cpu_count=32)


def test_config_keys_reach_the_launch_settings() -> None:
    config = NodeConfig(
        tensor_parallel_size=4, pipeline_parallel_size=2, ray_address="10.0.0.1:6379"
    )
    settings = BackendSettings.from_sources({**config.model_dump(), "engine_launch": True}, env={})
    launch = settings.launch()
    assert launch is not None
    assert (launch.tensor_parallel_size, launch.pipeline_parallel_size) == (4, 2)
    assert launch.ray_address == "10.0.0.1:6379"


def test_vllm_is_launched_with_tensor_and_pipeline_parallelism_on_ray() -> None:
    launch = LaunchSettings(
        tensor_parallel_size=4, pipeline_parallel_size=2, ray_address="10.0.0.1:6379"
    )
    plan = VllmBackend.at("http://127.0.0.1:8000").launch_plan(
        "Qwen/Qwen2.5-72B-Instruct", 8001, launch
    )
    argv = list(plan.argv)
    assert argv[argv.index("--tensor-parallel-size") + 1] == "4"
    assert argv[argv.index("--pipeline-parallel-size") + 1] == "2"
    assert argv[argv.index("--distributed-executor-backend") + 1] == "ray"
    assert plan.env == {"RAY_ADDRESS": "10.0.0.1:6379"}


def test_a_single_machine_vllm_does_not_ask_for_ray() -> None:
    plan = VllmBackend.at("http://127.0.0.1:8000").launch_plan(
        "m", 8001, LaunchSettings(tensor_parallel_size=2)
    )
    assert "--distributed-executor-backend" not in plan.argv
    assert plan.env == {}


def test_sglang_gets_its_tensor_parallel_size() -> None:
    plan = SGLangBackend.at("http://127.0.0.1:30000").launch_plan(
        "m", 30001, LaunchSettings(tensor_parallel_size=2)
    )
    argv = list(plan.argv)
    assert argv[argv.index("--tp-size") + 1] == "2"


async def test_the_heartbeat_lists_every_gpu_and_the_combined_tier(tmp_path: Path) -> None:
    daemon = NodeDaemon(
        NodeConfig(key_path=str(tmp_path / "node.key")), NodeKey.generate(), ScriptedBackend([])
    )
    daemon.hardware = HardwareCache(detect=lambda: two_4090s(tmp_path))
    beat = await daemon.build_heartbeat()
    await daemon.client.close()
    assert beat.vram_tier == ">=48gb"
    assert [(g.vendor, g.name, g.vram_mb) for g in beat.gpus] == [
        ("nvidia", "NVIDIA GeForce RTX 4090", 24564)
    ] * 2


async def test_a_tier_set_by_hand_wins_and_probes_are_cached_for_five_minutes(
    tmp_path: Path,
) -> None:
    calls: list[float] = []
    clock = [0.0]

    def detect() -> HardwareReport:
        calls.append(clock[0])
        return two_4090s(tmp_path)

    cache = HardwareCache(detect=detect, clock=lambda: clock[0])
    assert (await cache.heartbeat_fields(">=24gb"))[1] == ">=24gb"
    clock[0] = 299.0
    await cache.heartbeat_fields(None)
    clock[0] = 300.0
    await cache.heartbeat_fields(None)
    assert calls == [0.0, 300.0]
