"""The verifier's verdict on a reported loss (verifier.judge): paid only when both losses
reproduce within the tolerance and the adapter lowers the held-out loss."""

from __future__ import annotations

import pytest

from infernet.controlplane.training.verifier import Measured, judge


@pytest.mark.parametrize(
    ("reported", "measured", "why"),
    [
        ((2.50, 1.90), Measured(2.50, 1.90), None),
        ((2.50, 1.90), Measured(2.52, 1.93), None),  # bf16 on a GPU node, within 5 %
        ((2.50, 1.20), Measured(2.50, 1.90), "was not reproduced"),
        ((3.50, 1.90), Measured(2.50, 1.90), "was not reproduced"),
        ((2.50, 2.50), Measured(2.50, 2.50), "does not lower the loss"),
        ((2.50, 2.60), Measured(2.50, 2.60), "does not lower the loss"),
    ],
)
def test_a_verdict_pays_only_a_reproduced_improvement(
    reported: tuple[float, float], measured: Measured, why: str | None
) -> None:
    verdict = judge(reported, measured, tolerance=0.05)
    assert (verdict is None) if why is None else (verdict is not None and why in verdict)
