"""What every command shares: the console, exit codes, and turning errors into both.

Output never highlights on its own (rich would embolden the digits inside `qwen2.5:14b`),
and `NO_COLOR` (no-color.org), set to anything non-empty, turns every ANSI style off.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console


def make_console(*, stderr: bool = False) -> Console:
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(
        stderr=stderr, highlight=False, no_color=plain, color_system=None if plain else "auto"
    )


console = make_console()
err_console = make_console(stderr=True)


class Exit(enum.IntEnum):
    """Exit codes, stable for scripts."""

    OK = 0
    FAILED = 1  # the operation itself failed (e.g. a job failed)
    USAGE = 2  # bad arguments (Typer's own code)
    CONFIG = 3  # the config or key file is missing or malformed
    CONTROL_PLANE = 4  # the control plane is unreachable or refused the request
    BACKEND = 5  # the inference backend is unreachable or refused
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


def fail(message: str, code: Exit = Exit.FAILED) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(int(code))


@contextmanager
def user_errors() -> Iterator[None]:
    """Map the package's user-facing exceptions onto a message and an exit code."""
    from infernet.backends.errors import BackendError
    from infernet.node.client import ControlPlaneError
    from infernet.node.config import ConfigError
    from infernet.protocol.keys import KeyFileError
    from infernet.train.errors import MissingDependency, TrainConfigError, TrainError

    try:
        yield
    except (ConfigError, KeyFileError, TrainConfigError, MissingDependency) as exc:
        raise fail(str(exc), Exit.CONFIG) from exc
    except ControlPlaneError as exc:
        raise fail(str(exc), Exit.CONTROL_PLANE) from exc
    except BackendError as exc:
        raise fail(str(exc), Exit.BACKEND) from exc
    except TrainError as exc:
        raise fail(str(exc), Exit.FAILED) from exc
