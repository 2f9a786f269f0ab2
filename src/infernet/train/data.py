"""`infernet train data` as a function: URLs from a source → polite fetch → ChatML JSONL.

The CLI passes `on_page` to move its progress bar; the returned `DataReport` is the
summary (pages fetched, failed and why, paragraphs kept and skipped, lines written).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infernet.train.chatml import ChatmlWriter, Tally, domain_allowed, page_paragraphs
from infernet.train.crawl import PoliteFetcher
from infernet.train.errors import DataError
from infernet.train.sources import UrlSource


@dataclass
class DataReport:
    urls: int = 0
    fetched: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (url, why)
    off_domain: list[str] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    output: Path | None = None


def build_dataset(
    source: UrlSource,
    output: Path,
    writer: ChatmlWriter,
    *,
    domains: tuple[str, ...] = (),
    timeout_s: float = 15.0,
    on_start: Callable[[int], None] = lambda total: None,
    on_page: Callable[[str, str | None], None] = lambda url, error: None,
) -> DataReport:
    report = DataReport()
    urls = source.urls()
    kept = [u for u in urls if domain_allowed(u, domains)]
    report.off_domain = [u for u in urls if u not in kept]
    report.urls = len(urls)
    if not kept:
        where = f" within {', '.join(domains)}" if domains else ""
        raise DataError(f"no pages to fetch{where} from {source.label}")
    on_start(len(kept))
    with PoliteFetcher(timeout_s=timeout_s) as fetcher:
        for url in kept:
            page = fetcher.fetch(url)
            if page.html is None:
                report.failed.append((url, page.error or "no page"))
            else:
                report.fetched += 1
                writer.add_page(url, page_paragraphs(page.html, url))
            on_page(url, page.error)
    report.tally = writer.tally
    if writer.tally.written == 0:
        raise DataError(_nothing_written(report, writer))
    writer.write(output)
    report.output = output
    return report


def _nothing_written(report: DataReport, writer: ChatmlWriter) -> str:
    t = writer.tally
    why = [f"{len(report.failed)} of {report.urls} pages failed"] if report.failed else []
    why.append(
        f"{t.seen} paragraphs found, {t.too_short} under {writer.min_chars} characters, "
        f"{t.duplicates} duplicates"
    )
    return f"no training lines to write ({'; '.join(why)}); nothing was written"
