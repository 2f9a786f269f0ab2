"""Server-rendered charts: a series (dashboard/history.py) laid out as SVG geometry that
the `_chart.html` macro draws. No script and no chart library: a line per run of measured
buckets (a gap where nothing was measured), a dot per measured bucket with its value as
a tooltip, the scale's top and the window's ends as text, and the latest value written
out beside the chart (and in its accessible description) so no one has to read it off.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from infernet.controlplane.dashboard.history import Series

WIDTH, HEIGHT = 600, 160
LEFT, RIGHT, TOP, BOTTOM = 60, 8, 10, 22  # room for the axis labels
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    label: str  # when, and the value


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    summary: str  # the accessible description: window, latest, highest
    latest: str | None  # None: no data
    empty: str
    lines: tuple[str, ...] = ()  # `points` of each polyline
    dots: tuple[Dot, ...] = ()
    top_label: str = ""
    start_label: str = ""
    end_label: str = ""
    caption: str = "latest"  # what precedes `latest` beside the chart
    # The frame, for the template: the plot spans x left..right, y top..base.
    left: ClassVar[int] = LEFT
    right: ClassVar[int] = WIDTH - RIGHT
    top: ClassVar[int] = TOP
    base: ClassVar[int] = HEIGHT - BOTTOM


def element_id(*parts: str) -> str:
    """An element id from `parts` (model names hold `:` and `.`, which CSS selectors
    would have to escape)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", "-".join(parts))


def _short(value: float) -> str:
    """At most 6 decimals, without trailing zeros (USDC amounts, scale ends)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def show_value(value: float, unit: str) -> str:
    if unit == "jobs":
        return f"{value:.0f} job" if round(value) == 1 else f"{value:.0f} jobs"
    if unit == "USDC":
        return f"{_short(value)} USDC"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "%":
        return f"{value:.0f}%"
    return f"{value:.1f} {unit}"


def nice_top(highest: float, unit: str) -> float:
    """The scale's top: 100 for a percentage, else 1, 2 or 5 times a power of ten."""
    if unit == "%":
        return 100.0
    if highest <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(highest))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= highest)


def _moment(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _runs(points: list[tuple[int, float, float]]) -> tuple[str, ...]:
    """Polylines through consecutive measured buckets; a lone bucket is only its dot."""
    runs: list[list[tuple[int, float, float]]] = []
    for point in points:
        if runs and runs[-1][-1][0] == point[0] - 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return tuple(" ".join(f"{x:.1f},{y:.1f}" for _, x, y in run) for run in runs if len(run) > 1)


def chart(series: Series, window_label: str, prefix: str = "") -> Chart:
    chart_id = element_id("chart", *filter(None, (prefix, series.key)))
    if not series.has_data:
        return Chart(chart_id, series.title, f"{series.title}: {series.empty}.", None, series.empty)
    measured = [(i, v) for i, v in enumerate(series.values) if v is not None]
    top = nice_top(max(v for _, v in measured), series.unit)
    span = max(1, len(series.values) - 1)
    points = [
        (i, LEFT + PLOT_W * i / span, TOP + PLOT_H * (1 - min(v, top) / top)) for i, v in measured
    ]
    dots = tuple(
        Dot(x, y, f"{_moment(series.start + i * series.step_s)}: {show_value(v, series.unit)}")
        for (i, x, y), (_, v) in zip(points, measured, strict=True)
    )
    latest = show_value(series.latest or 0.0, series.unit)
    highest = show_value(max(v for _, v in measured), series.unit)
    return Chart(
        id=chart_id,
        title=series.title,
        summary=f"{series.title}, {window_label}: latest {latest}, highest {highest}.",
        latest=latest,
        empty=series.empty,
        lines=_runs(points),
        dots=dots,
        top_label=_short(top),  # the unit is in the title
        start_label=_moment(series.start),
        end_label="now",
    )


@dataclass(frozen=True, slots=True)
class Offer:
    """One node's offer for a model, as the market chart plots it."""

    label: str
    price: float  # USDC per 1K output tokens
    speed: float  # measured tokens/s


def price_speed(chart_id: str, offers: list[Offer]) -> Chart:
    """Each node serving a model as a dot: its output price across, its measured speed
    up: cheap and fast is top left."""
    title = "Nodes by price (across, USDC per 1K output) and speed (up, tokens/s)"
    empty = "no node serving it has finished a job yet"
    if not offers:
        return Chart(chart_id, title, f"{title}: {empty}.", None, empty)
    x_top = nice_top(max(o.price for o in offers), "USDC")
    y_top = nice_top(max(o.speed for o in offers), "tokens/s")
    dots = tuple(
        Dot(
            LEFT + PLOT_W * min(o.price, x_top) / x_top,
            TOP + PLOT_H * (1 - min(o.speed, y_top) / y_top),
            f"{o.label}: {show_value(o.price, 'USDC')} per 1K out, "
            f"{show_value(o.speed, 'tokens/s')}",
        )
        for o in offers
    )
    fastest = max(offers, key=lambda o: o.speed)
    cheapest = min(offers, key=lambda o: o.price)
    summary = (
        f"{title}: {len(offers)} node(s); cheapest {show_value(cheapest.price, 'USDC')} per 1K"
        f" output tokens, fastest {show_value(fastest.speed, 'tokens/s')}."
    )
    return Chart(
        id=chart_id,
        title=title,
        summary=summary,
        latest=f"{len(offers)} node(s)",
        caption="measured",
        empty=empty,
        dots=dots,
        top_label=f"{y_top:g}",
        start_label="0",
        end_label=_short(x_top),
    )
