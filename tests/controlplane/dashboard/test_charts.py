"""Charts are laid out on the server: measured buckets become dots, consecutive ones are
joined, a gap stays a gap, the scale's top is a round number above the highest value,
and a series with nothing measured draws nothing and says why."""

from __future__ import annotations

from infernet.controlplane.dashboard.charts import (
    BOTTOM,
    HEIGHT,
    LEFT,
    TOP,
    Offer,
    chart,
    element_id,
    nice_top,
    price_speed,
)
from infernet.controlplane.dashboard.history import Series

BASE = HEIGHT - BOTTOM


def series(*values: float | None, unit: str = "tokens/s") -> Series:
    return Series("speed", "Tokens per second", unit, 1_800_000_000, 60, values)


def test_a_gap_splits_the_line_and_a_lone_bucket_is_only_a_dot() -> None:
    drawn = chart(series(10.0, 20.0, None, 40.0, None, None, 5.0), "last hour, per minute")
    assert len(drawn.dots) == 4
    assert len(drawn.lines) == 1 and len(drawn.lines[0].split()) == 2  # buckets 0 and 1
    assert drawn.latest == "5.0 tokens/s"
    assert drawn.top_label == "50"  # 40 rounds up to 50
    expected = "Tokens per second, last hour, per minute: latest 5.0 tokens/s, highest 40.0"
    assert drawn.summary == expected + " tokens/s."
    first = drawn.dots[0]
    assert first.x == LEFT and TOP < first.y < BASE
    assert first.label == "2027-01-15 08:00 UTC: 10.0 tokens/s"


def test_zero_is_drawn_on_the_axis_but_nothing_measured_is_not_drawn() -> None:
    zeros = chart(series(0.0, 0.0, unit="jobs"), "w")
    assert zeros.latest == "0 jobs" and all(d.y == BASE for d in zeros.dots)
    nothing = chart(series(None, None), "w")
    assert nothing.latest is None and nothing.dots == () and nothing.lines == ()
    assert nothing.empty == "no data in this window"


def test_scales_and_ids() -> None:
    assert [nice_top(v, "jobs") for v in (0, 0.3, 1, 7, 12, 300)] == [1, 0.5, 1, 10, 20, 500]
    assert nice_top(3, "%") == 100
    assert element_id("chart", "qwen2.5:7b", "market") == "chart-qwen2-5-7b-market"


def test_each_node_offer_is_a_dot_cheap_to_the_left_fast_to_the_top() -> None:
    drawn = price_speed("m", [Offer("a", 0.001, 50.0), Offer("b", 0.002, 10.0)])
    cheap_fast, dear_slow = drawn.dots
    assert cheap_fast.x < dear_slow.x and cheap_fast.y < dear_slow.y
    assert "cheapest 0.001 USDC" in drawn.summary and "fastest 50.0 tokens/s" in drawn.summary
    assert price_speed("m", []).latest is None
