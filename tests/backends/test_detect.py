"""Choosing the backend (Book §7.1): settings from config and environment, the probe
order, telling MAX from llama.cpp on the shared port 8080, and building the adapter."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from infernet.backends.detect import (
    BackendSettings,
    NoBackendDetected,
    build_backend,
    detect_and_build,
    detect_backend,
)
from infernet.backends.launcher import EngineInstance
from infernet.backends.max import MaxBackend
from infernet.backends.ollama import OllamaBackend
from infernet.backends.sglang import SGLangBackend
from infernet.backends.vllm import VllmBackend
from tests.backends.conftest import SERVED_HF, engine_state
from tests.fakes import llamacpp as fake_llamacpp
from tests.fakes import max as fake_max
from tests.fakes import sglang as fake_sglang
from tests.fakes import vllm as fake_vllm
from tests.fakes.ollama import OllamaState
from tests.fakes.ollama import create_app as ollama_app
from tests.fakes.server import closed_url, serve

# -- settings ------------------------------------------------------------------------------


def test_defaults_are_the_books_urls() -> None:
    s = BackendSettings.from_sources({}, env={})
    assert (s.backend, s.ollama_host, s.vllm_host, s.sglang_host) == (
        None,
        "http://localhost:11434",
        "http://localhost:8000",
        "http://localhost:30000",
    )
    assert s.max_host == s.llamacpp_host == "http://localhost:8080"


def test_config_keys_are_read_and_the_environment_overrides_them() -> None:
    config = {
        "backend": "vllm",
        "vllm_host": "http://gpu-box:8000",
        "vllm_model": "Qwen/Qwen2.5-14B-Instruct",
        "sglang_host": "http://gpu-box:30000",
    }
    env = {"INFERNET_BACKEND": "sglang", "SGLANG_HOST": "gpu-box:31000", "MAX_MODEL": "m/x"}
    s = BackendSettings.from_sources(config, env=env)

    assert (s.backend, s.backend_source) == ("sglang", "INFERNET_BACKEND")
    assert s.vllm_host == "http://gpu-box:8000"
    assert s.vllm_model == "Qwen/Qwen2.5-14B-Instruct"
    assert s.sglang_host == "http://gpu-box:31000"
    assert s.max_model == "m/x"


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("0.0.0.0", "http://0.0.0.0:11434"),
        ("myhost:1234", "http://myhost:1234"),
        ("https://ollama.example/", "https://ollama.example:11434"),
    ],
)
def test_ollama_host_takes_ollamas_own_forms(value: str, url: str) -> None:
    assert BackendSettings.from_sources({}, env={"OLLAMA_HOST": value}).ollama_host == url


def test_every_engine_has_its_host_variable() -> None:
    env = {
        "VLLM_HOST": "a:1", "SGLANG_HOST": "b:2", "MODULAR_MAX_HOST": "c:3",
        "LLAMACPP_HOST": "d:4",
    }  # fmt: skip
    s = BackendSettings.from_sources({}, env=env)
    assert (s.vllm_host, s.sglang_host, s.max_host, s.llamacpp_host) == (
        "http://a:1",
        "http://b:2",
        "http://c:3",
        "http://d:4",
    )


def test_the_nested_config_shape_and_its_env_map_are_understood() -> None:
    config = {
        "engine": {"backend": "ollama", "ollamaHost": "http://10.0.0.2:11434"},
        "env": {"OLLAMA_KEEP_ALIVE": "-1"},
    }
    s = BackendSettings.from_sources(config, env={})
    assert (s.backend, s.ollama_host, s.keep_alive) == ("ollama", "http://10.0.0.2:11434", "-1")


def test_vllm_instances_come_from_config() -> None:
    config = {"vllm_instances": [{"host": "h:8001", "model": "qwen2.5:14b"}, {"host": "h:8002"}]}
    s = BackendSettings.from_sources(config, env={})
    assert s.vllm_instances == (
        EngineInstance("http://h:8001", "qwen2.5:14b"),
        EngineInstance("http://h:8002", None),
    )


def test_an_unknown_backend_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="ollama"):
        BackendSettings.from_sources({}, env={"INFERNET_BACKEND": "tgi"})


# -- detection -----------------------------------------------------------------------------


def nothing_up() -> BackendSettings:
    """Every engine host pointed at a port where nothing listens."""
    return BackendSettings(
        ollama_host=closed_url(),
        vllm_host=closed_url(),
        sglang_host=closed_url(),
        max_host=closed_url(),
        llamacpp_host=closed_url(),
        probe_timeout_s=1.0,
    )


async def test_an_explicit_backend_is_used_without_probing() -> None:
    settings = dataclasses.replace(nothing_up(), backend="sglang", backend_source="config")
    found = await detect_backend(settings)
    assert (found.backend, found.host, found.probes) == ("sglang", settings.sglang_host, ())
    assert "config" in found.reason


async def test_ollama_is_found_by_its_tags_endpoint() -> None:
    with serve(ollama_app(OllamaState())) as url:
        found = await detect_backend(dataclasses.replace(nothing_up(), ollama_host=url))
    assert (found.backend, found.host) == ("ollama", url)


async def test_the_books_order_decides_when_several_answer() -> None:
    vllm, sglang = fake_vllm.create_app(engine_state()), fake_sglang.create_app(engine_state())
    with serve(vllm) as v, serve(sglang) as s:
        found = await detect_backend(dataclasses.replace(nothing_up(), vllm_host=v, sglang_host=s))
    assert found.backend == "vllm"
    assert [(p.backend, p.found) for p in found.probes] == [("ollama", False), ("vllm", True)]


async def test_an_engine_is_known_by_what_it_says_not_by_its_port() -> None:
    with serve(fake_vllm.create_app(engine_state())) as url:
        found = await detect_backend(dataclasses.replace(nothing_up(), sglang_host=url))
    assert found.backend == "vllm"
    assert "owned_by 'vllm'" in found.reason


async def test_llama_server_on_8080_is_llamacpp_not_max() -> None:
    with serve(fake_llamacpp.create_app("qwen2.5-7b-instruct-q4_k_m.gguf")) as url:
        settings = dataclasses.replace(nothing_up(), max_host=url, llamacpp_host=url)
        found = await detect_backend(settings)
    assert (found.backend, found.host) == ("llamacpp", url)
    assert "llamacpp" in found.reason


async def test_llama_swap_on_8080_is_llamacpp() -> None:
    with serve(fake_llamacpp.create_app("qwen2.5:14b", swap=True)) as url:
        settings = dataclasses.replace(nothing_up(), max_host=url, llamacpp_host=url)
        found = await detect_backend(settings)
    assert found.backend == "llamacpp"
    assert "llama-swap" in found.reason


async def test_max_on_8080_is_max() -> None:
    with serve(fake_max.create_app(engine_state())) as url:
        settings = dataclasses.replace(nothing_up(), max_host=url, llamacpp_host=url)
        found = await detect_backend(settings)
    assert (found.backend, found.host) == ("max", url)
    assert "/version" in found.reason


async def test_a_llama_server_still_loading_is_not_taken_as_ready() -> None:
    with serve(fake_llamacpp.create_app("m.gguf", loading=True)) as url:
        settings = dataclasses.replace(nothing_up(), max_host=url, llamacpp_host=url)
        with pytest.raises(NoBackendDetected):
            await detect_backend(settings)


async def test_when_nothing_answers_every_probe_is_reported() -> None:
    with pytest.raises(NoBackendDetected, match="INFERNET_BACKEND") as caught:
        await detect_backend(nothing_up())
    assert [p.backend for p in caught.value.probes] == [
        "ollama",
        "vllm",
        "sglang",
        "max",
        "llamacpp",
    ]
    assert not any(p.found for p in caught.value.probes)


# -- building ------------------------------------------------------------------------------


async def test_each_engine_name_builds_its_adapter() -> None:
    settings = BackendSettings(keep_alive="-1", vllm_model=SERVED_HF)
    built = {name: build_backend(settings, name) for name in ("ollama", "vllm", "sglang", "max")}

    assert isinstance(built["ollama"], OllamaBackend)
    assert built["ollama"].keep_alive == -1
    assert isinstance(built["vllm"], VllmBackend)
    assert built["vllm"].instances == (EngineInstance("http://localhost:8000", SERVED_HF),)
    assert isinstance(built["sglang"], SGLangBackend)
    assert isinstance(built["max"], MaxBackend)
    for backend in built.values():
        await backend.close()


async def test_vllm_instances_build_one_routed_backend() -> None:
    instances = (EngineInstance("http://h:8001", "a"), EngineInstance("http://h:8002", "b"))
    backend = build_backend(BackendSettings(vllm_instances=instances), "vllm")
    assert isinstance(backend, VllmBackend)
    assert backend.instances == instances
    await backend.close()


async def test_managed_launch_without_a_model_starts_with_no_servers() -> None:
    backend = build_backend(BackendSettings(engine_launch=True, tensor_parallel_size=2), "sglang")
    assert isinstance(backend, SGLangBackend)
    assert backend.instances == ()
    assert (await backend.health()).ok
    await backend.close()


@pytest.mark.skipif(
    importlib.util.find_spec("infernet.backends.llamacpp") is None,
    reason="infernet.backends.llamacpp is built in its own change",
)
async def test_llamacpp_is_built_by_its_own_module(tmp_path: Path) -> None:
    from infernet.backends.llamacpp import LlamaCppBackend

    backend = build_backend(
        BackendSettings(llamacpp_host="http://localhost:8081", llamacpp_models_dir=tmp_path),
        "llamacpp",
    )
    assert isinstance(backend, LlamaCppBackend)
    assert backend.host == "http://localhost:8081"
    await backend.close()


async def test_detect_and_build_gives_a_working_backend() -> None:
    with serve(fake_vllm.create_app(engine_state())) as url:
        detection, backend = await detect_and_build(
            dataclasses.replace(nothing_up(), vllm_host=url)
        )
        health = await backend.health()
        await backend.close()
    assert detection.backend == backend.name == "vllm"
    assert health.ok
