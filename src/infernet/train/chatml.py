"""Pages → readable text → ChatML JSONL, one line per paragraph (Book §9.4).

Each line is `{"messages": [system, user, assistant], "meta": {"source_url",
"paragraph_index"}}`: the assistant says the paragraph; the user asks about the heading it
sits under (the page title when it has none). The readable text comes from trafilatura
(boilerplate, menus and footers removed), as Markdown so that headings are known.
Paragraphs under `min_chars` are skipped, those over `max_chars` are cut at the last
sentence (or word) that fits, and a paragraph seen before (same text, any case or
spacing) is written once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_SYSTEM = "You are a helpful assistant."
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")


@dataclass(frozen=True)
class Paragraph:
    topic: str
    text: str
    index: int  # position among the page's paragraphs, counted before any filtering


@dataclass
class Tally:
    """What happened to the paragraphs, for the summary."""

    seen: int = 0
    too_short: int = 0
    duplicates: int = 0
    truncated: int = 0
    written: int = 0
    pages_without_text: list[str] = field(default_factory=list)


def page_paragraphs(html: str, url: str) -> list[Paragraph]:
    """The page's readable paragraphs, each with the heading it sits under."""
    import trafilatura

    markdown = trafilatura.extract(
        html, url=url, output_format="markdown", include_comments=False, include_tables=False
    )
    if not markdown:
        return []
    meta = trafilatura.extract_metadata(html, default_url=url)
    topic = (meta.title if meta and meta.title else "") or urlparse(url).netloc
    paragraphs: list[Paragraph] = []
    for block in re.split(r"\n\s*\n", markdown):
        block = block.strip()
        heading = _HEADING.match(block)
        if heading:
            topic = heading.group(1).strip() or topic
        elif block:
            paragraphs.append(Paragraph(topic, " ".join(block.split()), len(paragraphs)))
    return paragraphs


def cut(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars`, at the last sentence end, else the last space."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    sentence = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
    if sentence >= max_chars // 2:
        return head[: sentence + 1]
    space = head.rfind(" ")
    return head[:space] if space >= max_chars // 2 else head


def _fingerprint(text: str) -> str:
    return hashlib.sha256(" ".join(text.casefold().split()).encode()).hexdigest()


@dataclass
class ChatmlWriter:
    """Turns paragraphs into ChatML records, filtering and de-duplicating as it goes."""

    system: str = DEFAULT_SYSTEM
    min_chars: int = 200
    max_chars: int = 4000
    tally: Tally = field(default_factory=Tally)
    _seen: set[str] = field(default_factory=set)
    lines: list[str] = field(default_factory=list)

    def add_page(self, url: str, paragraphs: list[Paragraph]) -> None:
        if not paragraphs:
            self.tally.pages_without_text.append(url)
        for paragraph in paragraphs:
            self.tally.seen += 1
            if len(paragraph.text) < self.min_chars:
                self.tally.too_short += 1
                continue
            key = _fingerprint(paragraph.text)
            if key in self._seen:
                self.tally.duplicates += 1
                continue
            self._seen.add(key)
            text = cut(paragraph.text, self.max_chars)
            self.tally.truncated += text != paragraph.text
            self.lines.append(json.dumps(self._record(url, paragraph, text), ensure_ascii=False))
            self.tally.written += 1

    def _record(self, url: str, paragraph: Paragraph, text: str) -> dict[str, object]:
        return {
            "messages": [
                {"role": "system", "content": self.system},
                {"role": "user", "content": f"Tell me about {paragraph.topic}."},
                {"role": "assistant", "content": text},
            ],
            "meta": {"source_url": url, "paragraph_index": paragraph.index},
        }

    def write(self, path: Path) -> None:
        """All lines at once, through a temporary file: never a half-written dataset."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_text("".join(line + "\n" for line in self.lines), encoding="utf-8")
        partial.replace(path)


def domain_allowed(url: str, domains: tuple[str, ...]) -> bool:
    """True when no allow-list is set, or the URL's host is a listed domain or under one."""
    if not domains:
        return True
    host = (urlparse(url).hostname or "").lower()
    return any(host == d or host.endswith("." + d) for d in (d.lower().strip(".") for d in domains))
