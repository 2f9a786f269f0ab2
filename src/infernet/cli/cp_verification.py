"""`infernet cp serve`'s options for verifying what nodes serve (docs/trust.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from infernet.cli.common import Exit, fail

VERIFIER_OPTION = typer.Option(
    [],
    "--verifier",
    envvar="INFERNET_VERIFIERS",
    help="MODEL=URL (repeatable): the platform's trusted llama-server-style engine for a "
    "model; its answers are spot-checked and hidden checks sent. Models without one are "
    "not checked.",
)
VERIFY_SHARE_OPTION = typer.Option(
    0.05,
    "--verify-share",
    envvar="INFERNET_VERIFY_SHARE",
    min=0.0,
    max=1.0,
    help="The share of the network's compute checks may spend.",
)
HIDDEN_CHECKS_OPTION = typer.Option(
    0.0,
    "--hidden-check-interval",
    envvar="INFERNET_HIDDEN_CHECK_INTERVAL_S",
    min=0.0,
    help="Mean seconds between hidden checks (0: none).",
)


def verification_from(params: Mapping[str, Any]) -> dict[str, Any]:
    """The verification settings from `cp serve`'s parsed options (`ctx.params`)."""
    verifiers: dict[str, str] = {}
    for item in params.get("verifier") or []:
        model, sep, url = item.partition("=")
        if not sep or not model.strip() or not url.strip().startswith(("http://", "https://")):
            raise fail(f"--verifier {item!r}: write MODEL=http://HOST:PORT.", Exit.USAGE)
        verifiers[model.strip()] = url.strip()
    return {
        "verifier_urls": verifiers,
        "verify_share": params.get("verify_share", 0.05),
        "hidden_check_interval_s": params.get("hidden_check_interval", 0.0),
    }
