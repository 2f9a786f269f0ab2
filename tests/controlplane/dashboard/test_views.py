"""What the dashboard's views compute before any template sees it: GPU lines, model
suggestions, ages and times, and forms parsed into errors per field."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from pydantic import BaseModel, Field

from infernet.controlplane.dashboard import models_view
from infernet.controlplane.dashboard.filters import age, when
from infernet.controlplane.dashboard.nodes_view import gpu_lines
from infernet.controlplane.dashboard.render import parse_form
from infernet.controlplane.services import Services
from infernet.protocol.wire import GpuSummary, Heartbeat

TWO_GPUS = [
    GpuSummary(vendor="nvidia", name="RTX 4090", vram_mb=24564, utilization_pct=37.0),
    GpuSummary(vendor="nvidia", name="RTX 4090", vram_mb=24564, memory_used_mb=8192),
]


def beat(gpus: list[GpuSummary]) -> Heartbeat:
    return Heartbeat(
        version="1", backend="ollama", backend_healthy=True, served_models=[], gpus=gpus
    )


def services_with_demand(demand: dict[str, int], refused: dict[str, int]) -> Services:
    jobs = SimpleNamespace(demand=Counter(demand), names=SimpleNamespace(refused=Counter(refused)))
    return cast(Services, SimpleNamespace(jobs=jobs))


def test_each_gpu_gets_a_line_with_its_memory_and_what_it_reported() -> None:
    lines, vram_gb = gpu_lines(beat(TWO_GPUS))
    assert lines == [
        "RTX 4090 · 24 GB · 37% util",
        "RTX 4090 · 24 GB · 8.0 GB used",
    ]
    assert vram_gb == 2 * 24564 / 1000


def test_a_node_without_gpus_says_cpu_only_and_one_never_heard_from_says_nothing() -> None:
    assert gpu_lines(beat([])) == (["CPU only"], 0.0)
    assert gpu_lines(None) == ([], 0.0)


def test_suggestions_put_the_models_clients_ask_for_first() -> None:
    quiet = models_view.suggested(services_with_demand({}, {}), ">=24gb", 24.0, "ollama", set())
    assert quiet, "a 24 GB node has models to suggest"
    wanted = quiet[-1].key
    busy = services_with_demand({wanted: 5}, {})
    ranked = models_view.suggested(busy, ">=24gb", 24.0, "ollama", set())
    assert ranked[0].key == wanted and ranked[0].demand == 5
    assert "of 24.0 GB VRAM" in ranked[0].fit_message


def test_refused_requests_count_as_demand_under_any_spelling_of_the_name() -> None:
    quiet = models_view.suggested(services_with_demand({}, {}), ">=24gb", 24.0, "ollama", set())
    wanted = quiet[-1]
    refused = services_with_demand({}, {wanted.key.upper(): 3})
    ranked = models_view.suggested(refused, ">=24gb", 24.0, "ollama", set())
    assert ranked[0].key == wanted.key and ranked[0].refused == 3


def test_search_needs_every_word_and_marks_what_the_node_already_serves() -> None:
    services = services_with_demand({}, {})
    assert models_view.search(services, "   ", 24.0, "ollama", set()) == []
    found = models_view.search(services, "qwen 7b", 24.0, "ollama", {"qwen2.5:7b"})
    assert found and all("qwen" in c.key and "7b" in c.key for c in found)
    assert any(c.installed for c in found)


def test_ages_read_like_a_person_would_say_them() -> None:
    assert [age(s) for s in (None, -5, 59, 60, 3599, 3600, 86400)] == [
        "never",
        "0s ago",
        "59s ago",
        "1m ago",
        "59m ago",
        "1h ago",
        "1d ago",
    ]


def test_times_are_shown_in_utc_whatever_they_were_stored_as() -> None:
    naive = datetime(2026, 5, 1, 14, 23, 5)  # SQLite gives naive datetimes, stored as UTC
    assert when(naive) == "2026-05-01 14:23:05 UTC"
    assert when("2026-05-01T14:23:05Z") == when(naive.replace(tzinfo=UTC))
    assert when(None) == when("") == "—"


class Form(BaseModel):
    name: str = Field(min_length=1)
    count: int


def test_a_bad_form_gives_one_readable_error_per_field_and_no_model() -> None:
    form, errors = parse_form(Form, {"name": "", "count": "many"})
    assert form is None
    assert set(errors) == {"name", "count"}
    assert all(message[0].isupper() for message in errors.values())
    good: Any
    good, none = parse_form(Form, {"name": "ada", "count": "3"})
    assert none == {} and good.count == 3
