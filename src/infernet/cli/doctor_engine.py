"""`infernet doctor`'s checks of the embedded llama.cpp engine (what `infernet up` runs):
how it was built (portable or tied to the CPU it was compiled on), and a one-token
self-test that reports a crash as [FAIL] with the engine's log file."""

from __future__ import annotations

from pathlib import Path

from infernet.backends.errors import BackendError
from infernet.engine import build
from infernet.engine.selftest import self_test
from infernet.node.requirements import CheckResult

BUILD = "Engine build (llama.cpp)"
SELF_TEST = "Engine self-test (llama.cpp)"


async def check_engine_build() -> CheckResult:
    try:
        found = await build.probe_build()
    except BackendError as exc:
        return CheckResult(BUILD, "fail", str(exc), build.REBUILD_HINT)
    if found.portable:
        return CheckResult(BUILD, "pass", found.describe())
    return CheckResult(
        BUILD,
        "warn",
        found.describe(),
        "It may crash on other CPUs, and on VMs that advertise instructions they do not "
        f"enable. {build.REBUILD_HINT}",
    )


async def check_engine_self_test(log_path: Path) -> CheckResult:
    try:
        result = await self_test(log_path)
    except BackendError as exc:  # the bundled model is missing, or the engine cannot start
        return CheckResult(SELF_TEST, "fail", str(exc))
    if result.ok:
        return CheckResult(SELF_TEST, "pass", result.detail)
    return CheckResult(
        SELF_TEST,
        "fail",
        result.detail,
        f"Read the log above. A crash (SIGSEGV, SIGILL) at the first answer usually means "
        f"a build for another CPU: {build.REBUILD_HINT}",
    )


async def engine_checks(log_dir: Path) -> list[CheckResult]:
    """Both checks, or one line saying the engine is not installed (only `infernet up`
    and the llama.cpp tests need it)."""
    if not build.installed():
        detail = "not installed (only `infernet up` needs it: the `llamacpp` extra)"
        return [CheckResult(BUILD, "pass", detail)]
    return [
        await check_engine_build(),
        await check_engine_self_test(log_dir / "engine-selftest.log"),
    ]
