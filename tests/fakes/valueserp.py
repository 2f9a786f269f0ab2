"""A stand-in for the VALUE SERP search API, written from its documentation
(docs.trajectdata.com/valueserp: `GET /search` with `api_key`, `q`, `page`; JSON with
`request_info.success` and `organic_results[]` of `position`, `title`, `link`, `domain`,
`snippet`; HTTP 401 for a bad key, 402 when out of credits, 429 when rate limited).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

PER_PAGE = 10


@dataclass
class SerpState:
    api_key: str = "test-key"
    results: list[str] = field(default_factory=list)  # links, best first
    credits: int = 100
    requests: list[dict[str, str]] = field(default_factory=list)


def _refused(message: str, status: int) -> JSONResponse:
    return JSONResponse({"request_info": {"success": False, "message": message}}, status)


def create_app(state: SerpState) -> FastAPI:
    app = FastAPI()

    @app.get("/search")
    async def search(request: Request) -> JSONResponse:
        params = dict(request.query_params)
        state.requests.append(params)
        if params.get("api_key") != state.api_key:
            return _refused("Invalid API key", 401)
        if state.credits <= 0:
            return _refused("Out of credits", 402)
        if not params.get("q"):
            return _refused("q is required", 400)
        state.credits -= 1
        page = int(params.get("page", "1"))
        links = state.results[(page - 1) * PER_PAGE : page * PER_PAGE]
        organic: list[dict[str, Any]] = [
            {
                "position": (page - 1) * PER_PAGE + i + 1,
                "title": f"Result {i + 1}",
                "link": link,
                "domain": urlparse(link).netloc,
                "snippet": "…",
            }
            for i, link in enumerate(links)
        ]
        return JSONResponse(
            {
                "request_info": {"success": True, "credits_remaining": state.credits},
                "search_parameters": {"q": params["q"], "page": page},
                "organic_results": organic,
            }
        )

    return app
