"""Fetching pages politely: robots.txt, timeouts, a size cap, and a reason for every miss.

robots.txt follows RFC 9309: a 2xx file is obeyed (including `Crawl-delay`, between two
requests to the same host); a 4xx means no rules (allow all); a 5xx or an unreachable host
means "assume everything is disallowed". Redirects are followed by hand, up to 5, and
each hop is checked against its own host's robots.txt. Only HTML is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlparse
from urllib.robotparser import RobotFileParser

import httpx

from infernet import __version__

USER_AGENT = f"InfernetTrainData/{__version__} (infernet train data)"
ROBOTS_AGENT = "InfernetTrainData"
MAX_PAGE_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
MAX_CRAWL_DELAY_S = 30.0
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_DISALLOW_ALL = ["User-agent: *", "Disallow: /"]


@dataclass(frozen=True)
class Fetched:
    url: str
    html: str | None = None
    error: str | None = None  # why there is no page, in a few words


def _origin(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class PoliteFetcher:
    timeout_s: float = 15.0
    max_bytes: int = MAX_PAGE_BYTES
    _rules: dict[str, RobotFileParser] = field(default_factory=dict)
    _last_hit: dict[str, float] = field(default_factory=dict)
    _unreachable: dict[str, str] = field(default_factory=dict)  # origin -> why
    _client: httpx.Client | None = None

    def __enter__(self) -> PoliteFetcher:
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout_s),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )
        return self

    def __exit__(self, *_: object) -> None:
        if self._client is not None:
            self._client.close()

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError("use PoliteFetcher as a context manager")
        return self._client

    def robots(self, url: str) -> RobotFileParser:
        origin = _origin(url)
        if origin not in self._rules:
            self._rules[origin] = self._load_robots(origin)
        return self._rules[origin]

    def _load_robots(self, origin: str) -> RobotFileParser:
        rules = RobotFileParser(origin + "/robots.txt")
        try:
            response = self.client.get(origin + "/robots.txt", follow_redirects=True)
        except httpx.HTTPError as exc:
            self._unreachable[origin] = f"could not connect ({type(exc).__name__})"
            response = None
        if response is None or response.status_code >= 500:
            rules.parse(_DISALLOW_ALL)  # unreachable: RFC 9309 says assume disallowed
        elif response.status_code >= 400:
            rules.parse([])  # no rules
        else:
            rules.parse(response.text.splitlines())
        return rules

    def _wait_turn(self, url: str) -> None:
        origin = _origin(url)
        delay = self.robots(url).crawl_delay(ROBOTS_AGENT)
        last = self._last_hit.get(origin)
        if delay and last is not None:
            pause = min(float(delay), MAX_CRAWL_DELAY_S) - (time.monotonic() - last)
            if pause > 0:
                time.sleep(pause)
        self._last_hit[origin] = time.monotonic()

    def fetch(self, url: str) -> Fetched:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            rules = self.robots(current)
            if _origin(current) in self._unreachable:
                return Fetched(url, error=self._unreachable[_origin(current)])
            if not rules.can_fetch(ROBOTS_AGENT, current):
                return Fetched(url, error=f"disallowed by robots.txt ({current})")
            self._wait_turn(current)
            try:
                outcome = self._get(current)
            except httpx.TimeoutException:
                return Fetched(url, error=f"timed out after {self.timeout_s:g} s")
            except httpx.HTTPError as exc:
                return Fetched(url, error=f"could not connect ({type(exc).__name__})")
            if isinstance(outcome, Fetched):
                return Fetched(url, outcome.html, outcome.error)
            current = outcome
        return Fetched(url, error=f"more than {MAX_REDIRECTS} redirects")

    def _get(self, url: str) -> Fetched | str:
        """The page, or the URL it redirects to."""
        deadline = time.monotonic() + self.timeout_s * 2
        with self.client.stream("GET", url) as response:
            if response.is_redirect and "location" in response.headers:
                return urljoin(url, response.headers["location"])
            if response.status_code != 200:
                return Fetched(url, error=f"HTTP {response.status_code}")
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind not in _HTML_TYPES:
                return Fetched(url, error=f"not HTML ({kind or 'no content-type'})")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    return Fetched(url, error=f"larger than {self.max_bytes // 1_000_000} MB")
                if time.monotonic() > deadline:
                    return Fetched(url, error=f"timed out after {self.timeout_s * 2:g} s")
            return Fetched(url, html=bytes(body).decode(response.encoding or "utf-8", "replace"))
