"""`infernet train data`: search results or URLs → pages → ChatML JSONL (Book §9.4).

Against the local test site (tests/train/site.py) and a stand-in of the VALUE SERP API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infernet.train.chatml import cut
from tests.fakes import valueserp
from tests.fakes.server import serve
from tests.train.conftest import infernet


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def serp(site_url: str) -> Iterator[tuple[valueserp.SerpState, str]]:
    state = valueserp.SerpState(results=[f"{site_url}/history", f"{site_url}/care"])
    with serve(valueserp.create_app(state)) as url:
        yield state, f"{url}/search"


def test_urls_become_chatml_lines_one_per_paragraph(site_url: str, tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    done = infernet("train", "data", "--url", f"{site_url}/history", "-o", str(out))
    assert done.returncode == 0, done.stderr
    lines = _lines(out)
    assert len(lines) == 3  # three long paragraphs; the short one is skipped
    first = lines[0]
    roles = [m["role"] for m in first["messages"]]  # type: ignore[index]
    assert roles == ["system", "user", "assistant"]
    assert first["messages"][1]["content"] == "Tell me about Origins in Vellmar."  # type: ignore[index]
    assert first["messages"][2]["content"].startswith("Zorblax widgets were first forged")  # type: ignore[index]
    assert first["meta"] == {"source_url": f"{site_url}/history", "paragraph_index": 0}
    text = out.read_text()
    assert "Copyright" not in text and "Home" not in text  # menus and footers are dropped
    assert "Pages: 1 fetched, 0 failed" in done.stdout
    assert "1 too short" in done.stdout and "Wrote 3 lines" in done.stdout


def test_a_paragraph_seen_twice_is_written_once(site_url: str, tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    done = infernet(
        "train", "data", "--url", f"{site_url}/history", "--url", f"{site_url}/care", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    answers = [line["messages"][2]["content"] for line in _lines(out)]  # type: ignore[index]
    assert len(answers) == len(set(answers)) == 4
    assert "1 duplicates" in done.stdout


def test_min_and_max_chars(site_url: str, tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    args = ["train", "data", "--url", f"{site_url}/history", "-o", str(out)]
    done = infernet(*args, "--min-chars", "20", "--max-chars", "120")
    assert done.returncode == 0, done.stderr
    answers = [line["messages"][2]["content"] for line in _lines(out)]  # type: ignore[index]
    assert len(answers) == 4  # the short line now counts
    assert all(len(a) <= 120 for a in answers)
    assert "3 truncated" in done.stdout


def test_cut_prefers_a_sentence_end_then_a_word_end() -> None:
    assert cut("One two three. Four five six seven.", 20) == "One two three."
    assert cut("abcdefghij klmnopqrst uvwxyz", 24) == "abcdefghij klmnopqrst"
    assert cut("short", 10) == "short"


def test_failures_are_counted_with_their_reason(site_url: str, tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    pages = ["history", "private", "slow", "catalogue.pdf", "missing", "old-history"]
    args = [a for p in pages for a in ("--url", f"{site_url}/{p}")]
    done = infernet("train", "data", *args, "--timeout", "1", "-o", str(out))
    assert done.returncode == 0, done.stderr
    report = done.stdout
    assert "Pages: 2 fetched, 4 failed" in report  # the redirect reaches /history
    assert f"{site_url}/private: disallowed by robots.txt" in report
    assert f"{site_url}/slow: timed out after 1 s" in report
    assert f"{site_url}/catalogue.pdf: not HTML (application/pdf)" in report
    assert f"{site_url}/missing: HTTP 404" in report


def test_domain_allow_list(site_url: str, tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    args = ["train", "data", "--url", f"{site_url}/history", "-o", str(out)]
    refused = infernet(*args, "--domain", "example.org")
    assert refused.returncode == 1
    assert "no pages to fetch within example.org" in refused.stderr
    assert not out.exists()  # nothing half-written
    assert infernet(*args, "--domain", "127.0.0.1").returncode == 0


def test_nothing_to_write_fails_and_writes_nothing(site_url: str, tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    done = infernet("train", "data", "--url", f"{site_url}/missing", "-o", str(out))
    assert done.returncode == 1
    assert "no training lines to write" in done.stderr
    assert not out.exists()


def test_search_results_from_value_serp(
    serp: tuple[valueserp.SerpState, str], tmp_path: Path
) -> None:
    state, endpoint = serp
    out = tmp_path / "train.jsonl"
    env = {"VALUESERP_API_KEY": state.api_key, "VALUESERP_URL": endpoint}
    done = infernet("train", "data", "zorblax widgets", "--top", "5", "-o", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert state.requests[0]["q"] == "zorblax widgets"
    assert state.requests[0]["api_key"] == state.api_key
    sources = {line["meta"]["source_url"] for line in _lines(out)}  # type: ignore[index]
    assert sources == set(state.results)


def test_value_serp_refusals_are_explained(
    serp: tuple[valueserp.SerpState, str], tmp_path: Path
) -> None:
    state, endpoint = serp
    out = str(tmp_path / "train.jsonl")
    bad_key = infernet(
        "train",
        "data",
        "q",
        "-o",
        out,
        env={"VALUESERP_API_KEY": "nope", "VALUESERP_URL": endpoint},
    )
    assert bad_key.returncode == 1
    assert "HTTP 401" in bad_key.stderr and "VALUESERP_API_KEY" in bad_key.stderr
    state.credits = 0
    broke = infernet(
        "train",
        "data",
        "q",
        "-o",
        out,
        env={"VALUESERP_API_KEY": state.api_key, "VALUESERP_URL": endpoint},
    )
    assert "out of credits" in broke.stderr


def test_search_without_a_key_exits_3(tmp_path: Path) -> None:
    done = infernet(
        "train", "data", "q", "-o", str(tmp_path / "t.jsonl"), env={"VALUESERP_API_KEY": ""}
    )
    assert done.returncode == 3
    assert "VALUESERP_API_KEY" in done.stderr and "--url" in done.stderr


def test_query_and_urls_together_is_bad_usage(tmp_path: Path) -> None:
    done = infernet("train", "data", "q", "--url", "http://a.test/", "-o", str(tmp_path / "t"))
    assert done.returncode == 2


@pytest.mark.parametrize(("robots_status", "allowed"), [(404, True), (403, True), (503, False)])
def test_robots_txt_answers_follow_rfc_9309(robots_status: int, allowed: bool) -> None:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, PlainTextResponse

    from infernet.train.crawl import PoliteFetcher

    app = FastAPI()

    @app.get("/robots.txt")
    async def robots() -> PlainTextResponse:
        return PlainTextResponse("no", status_code=robots_status)

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<p>hello</p>")

    with serve(app) as url, PoliteFetcher(timeout_s=5) as fetcher:
        fetched = fetcher.fetch(f"{url}/page")
    assert (fetched.html is not None) is allowed
    if not allowed:
        assert fetched.error is not None and "robots.txt" in fetched.error


def test_an_unreachable_host_is_a_reason_not_a_crash() -> None:
    from infernet.train.crawl import PoliteFetcher
    from tests.fakes.server import closed_url

    with PoliteFetcher(timeout_s=2) as fetcher:
        fetched = fetcher.fetch(f"{closed_url()}/page")
    assert fetched.html is None
    assert fetched.error is not None and fetched.error.startswith("could not connect")
