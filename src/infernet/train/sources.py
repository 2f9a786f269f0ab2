"""Where `infernet train data` gets its page URLs: one small protocol, two providers.

- `ValueSerpSource`: the Book's provider, the top-N Google results for a query from the
  VALUE SERP API (`GET https://api.valueserp.com/search?api_key=...&q=...&page=N`, JSON
  with `request_info.success` and `organic_results[].link`; 401 bad key, 402 out of
  credits, 429 rate limited). The key comes from `VALUESERP_API_KEY`.
- `UrlListSource`: URLs given on the command line or in a file (one per line, `#` comments).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import httpx

from infernet.train.errors import DataError, MissingDependency

VALUESERP_URL = "https://api.valueserp.com/search"
VALUESERP_KEY_ENV = "VALUESERP_API_KEY"
_STATUS_MEANING = {
    401: "the API key was refused (check VALUESERP_API_KEY)",
    402: "the VALUE SERP account is out of credits",
    429: "VALUE SERP's rate limit was hit; wait and try again",
}


class UrlSource(Protocol):
    """Something that names the pages to crawl."""

    @property
    def label(self) -> str: ...

    def urls(self) -> list[str]: ...


def is_web_url(url: str) -> bool:
    parts = urlparse(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@dataclass(frozen=True)
class UrlListSource:
    items: tuple[str, ...]
    origin: str = "the command line"

    @classmethod
    def from_file(cls, path: Path) -> UrlListSource:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DataError(f"cannot read the URL list {path}: {exc.strerror}") from exc
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        return cls(tuple(line for line in lines if line), str(path))

    @property
    def label(self) -> str:
        return f"{len(self.items)} URLs from {self.origin}"

    def urls(self) -> list[str]:
        bad = [u for u in self.items if not is_web_url(u)]
        if bad:
            raise DataError(f"not an http(s) URL in {self.origin}: {bad[0]}")
        return list(dict.fromkeys(self.items))


@dataclass(frozen=True)
class ValueSerpSource:
    query: str
    top: int
    api_key: str
    endpoint: str = VALUESERP_URL
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls, query: str, top: int) -> ValueSerpSource:
        key = os.environ.get(VALUESERP_KEY_ENV, "").strip()
        if not key:
            raise MissingDependency(
                f"searching needs a VALUE SERP API key in {VALUESERP_KEY_ENV} "
                "(sign up at valueserp.com), or give the pages yourself with --url / --urls FILE"
            )
        endpoint = os.environ.get("VALUESERP_URL", VALUESERP_URL)
        return cls(query, top, key, endpoint)

    @property
    def label(self) -> str:
        return f"top {self.top} results for {self.query!r} (VALUE SERP)"

    def urls(self) -> list[str]:
        found: list[str] = []
        with httpx.Client(timeout=self.timeout_s) as client:
            for page in range(1, 11):  # Google pages of ~10; stop at 100 results
                links = self._page(client, page)
                found.extend(u for u in links if u not in found)
                if not links or len(found) >= self.top:
                    break
        return found[: self.top]

    def _page(self, client: httpx.Client, page: int) -> list[str]:
        params = {"api_key": self.api_key, "q": self.query, "page": str(page), "output": "json"}
        try:
            response = client.get(self.endpoint, params=params)
        except httpx.HTTPError as exc:
            raise DataError(f"VALUE SERP could not be reached: {exc}") from exc
        if response.status_code != 200:
            meaning = _STATUS_MEANING.get(response.status_code, response.text[:200])
            raise DataError(f"VALUE SERP answered HTTP {response.status_code}: {meaning}")
        body = response.json()
        if not (body.get("request_info") or {}).get("success", False):
            message = (body.get("request_info") or {}).get("message", "no reason given")
            raise DataError(f"VALUE SERP did not run the search: {message}")
        return _links(body.get("organic_results") or [])


def _links(results: Iterable[object]) -> list[str]:
    links = []
    for result in results:
        link = result.get("link") if isinstance(result, dict) else None
        if isinstance(link, str) and is_web_url(link):
            links.append(link)
    return links
