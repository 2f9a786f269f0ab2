"""`infernet doctor` on the embedded llama.cpp engine: the build is called portable only
when it was built with GGML_NATIVE=OFF and uses no AVX-512 or AMX, and the one-token
self-test runs the real engine and reports a failure as [FAIL] with the engine's log."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from infernet.cli.app import app
from infernet.cli.doctor_engine import check_engine_self_test
from infernet.engine.build import EngineBuild, parse_system_info, recorded_flags

PORTABLE_INFO = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | LLAMAFILE = 1 | "
NATIVE_INFO = (
    "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | "
    "LLAMAFILE = 1 | "
)
PORTABLE_FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF"


def test_system_info_is_read_feature_by_feature() -> None:
    features = parse_system_info("CPU : SSE3 = 1 | AVX512 = 0 | AVX2 = 1 | ")
    assert features == {"SSE3": True, "AVX512": False, "AVX2": True}


def test_a_build_is_portable_only_with_native_off_and_no_avx512_or_amx() -> None:
    assert EngineBuild(PORTABLE_FLAGS, parse_system_info(PORTABLE_INFO)).portable
    native = EngineBuild("-DGGML_NATIVE=ON", parse_system_info(NATIVE_INFO))
    assert not native.portable
    assert native.describe().startswith("not portable: uses AVX512, AVX512_VNNI, AMX_INT8 (")
    unknown = EngineBuild(None, parse_system_info(PORTABLE_INFO))
    assert not unknown.portable
    assert "not built by scripts/build-engine.sh" in unknown.describe()


def test_the_recorded_flags_are_the_second_line_of_the_marker(tmp_path: Path) -> None:
    assert recorded_flags(tmp_path) is None
    (tmp_path / ".infernet-engine").write_text(f"0123abcd\n{PORTABLE_FLAGS}\n")
    assert recorded_flags(tmp_path) == PORTABLE_FLAGS


async def test_an_engine_that_cannot_answer_fails_the_self_test_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("llama_cpp", reason="the llama.cpp engine is not installed")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a GGUF file")
    monkeypatch.setattr("infernet.engine.selftest.find_smollm2", lambda: broken)
    log = tmp_path / "engine-selftest.log"
    result = await check_engine_self_test(log)
    assert result.status == "fail"
    assert result.detail.startswith("the llama.cpp engine exited with status 1 before it was")
    assert result.detail.endswith(f"log file: {log}")
    assert "SIGSEGV, SIGILL" in result.hint


def test_doctor_checks_the_engine_even_without_a_node_config(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="the llama.cpp engine is not installed")
    config = tmp_path / "infernet" / "config.json"
    result = CliRunner().invoke(app, ["doctor", "--config", str(config)])
    flat = " ".join(result.output.split())  # as printed, without the console's line wrapping
    assert "[FAIL] Config file: no config at" in flat
    assert "[OK] Engine build (llama.cpp): portable (GGML_NATIVE=OFF; features: " in flat
    assert "[OK] Engine self-test (llama.cpp): answered 1 token in " in flat
    assert (config.parent / "engine-selftest.log").is_file()
