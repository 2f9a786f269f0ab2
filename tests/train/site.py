"""A small local web site with real-looking pages, for `infernet train data` and the loop.

Pages have menus, footers and short lines that extraction must drop, a page that
robots.txt disallows, one that redirects, one that is slow (past the client's timeout),
one that is not HTML, and one paragraph repeated on two pages (written once).
The subject (Zorblax widgets from the valley of Vellmar) is invented, so a model that
talks about it after fine-tuning learned it here.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

SHARED = (
    "Every Zorblax widget ships in a cedar box lined with moss from the Vellmar hills. The "
    "custom began because the quartz filaments cracked in cold weather, and the cedar kept "
    "them warm on the long winter journey to the coast markets of Port Aldane."
)

PAGES: dict[str, tuple[str, list[tuple[str, list[str]]]]] = {
    "/history": (
        "The history of Zorblax widgets",
        [
            (
                "Origins in Vellmar",
                [
                    "Zorblax widgets were first forged in the valley of Vellmar in 1822, when "
                    "the glassmaker Oda Lindqvist found that blue quartz could be spun into "
                    "filaments as thin as hair. Her workshop made twelve widgets a year, and "
                    "she polished each of them for nine days before it left the valley.",
                    SHARED,
                    "Short line that extraction keeps but the minimum length drops.",
                ],
            ),
            (
                "The guild",
                [
                    "In 1861 the widget makers of Vellmar formed the Zorblax Guild, which still "
                    "sets the rules of the craft: every widget carries the maker's mark on its "
                    "base, no widget is sold before it has rested a full moon, and apprentices "
                    "spin quartz for seven years before they may polish a widget alone.",
                ],
            ),
        ],
    ),
    "/care": (
        "Caring for a Zorblax widget",
        [
            (
                "Cleaning",
                [
                    "A Zorblax widget is cleaned with rainwater and a feather, never with soap. "
                    "Soap dulls the blue quartz within a week, while rainwater keeps the "
                    "filaments bright; the guild recommends a cleaning at every new moon, and "
                    "a widget kept this way holds its shine for a hundred years.",
                    SHARED,
                ],
            ),
        ],
    ),
}


def page_html(title: str, sections: list[tuple[str, list[str]]]) -> str:
    body = "".join(
        f"<h2>{heading}</h2>" + "".join(f"<p>{text}</p>" for text in paragraphs)
        for heading, paragraphs in sections
    )
    return (
        f"<!doctype html><html><head><title>{title} | Zorblax Guild</title></head><body>"
        '<nav><a href="/">Home</a> | <a href="/history">History</a> | '
        '<a href="/care">Care</a></nav>'
        f"<main><article><h1>{title}</h1>{body}</article></main>"
        "<footer>Copyright 2024 Zorblax Guild. All rights reserved. Privacy | Terms</footer>"
        "</body></html>"
    )


def create_site(slow_s: float = 5.0) -> FastAPI:
    app = FastAPI()

    @app.get("/robots.txt")
    async def robots() -> PlainTextResponse:
        return PlainTextResponse("User-agent: *\nDisallow: /private\n")

    @app.get("/old-history")
    async def moved() -> RedirectResponse:
        return RedirectResponse("/history", status_code=301)

    @app.get("/slow")
    async def slow() -> HTMLResponse:
        await asyncio.sleep(slow_s)
        return HTMLResponse(page_html("Slow", []))

    @app.get("/catalogue.pdf")
    async def pdf() -> Response:
        return Response(b"%PDF-1.4 not a page", media_type="application/pdf")

    @app.get("/private")
    async def private() -> HTMLResponse:
        return HTMLResponse(page_html("Members only", [("Secret", ["x" * 300])]))

    @app.get("/{page}")
    async def page(page: str) -> Response:
        found = PAGES.get("/" + page)
        if found is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        return HTMLResponse(page_html(*found))

    return app
