"""Rendering: the Jinja2 templates (server-side HTML), page fragments for live updates,
and form bodies parsed into pydantic models with errors per field for inline display."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from infernet import __version__
from infernet.controlplane.dashboard.filters import register_filters

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"
templates = Jinja2Templates(directory=str(TEMPLATES))
register_filters(templates.env)
templates.env.globals["version"] = __version__

FormModel = TypeVar("FormModel", bound=BaseModel)
Outcome = TypeVar("Outcome")
Errors = dict[str, str]


def page(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def fragment(template: str, **context: Any) -> str:
    """One partial template rendered alone: what a live page swaps in over SSE."""
    return templates.env.get_template(template).render(**context)


async def form_fields(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the only kind our forms post)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


def field_errors(exc: ValidationError) -> Errors:
    errors: Errors = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "form"
        message = str(error["msg"]).removeprefix("Value error, ")
        errors.setdefault(name, message[0].upper() + message[1:] if message else "Invalid.")
    return errors


def parse_form(model: type[FormModel], fields: dict[str, str]) -> tuple[FormModel | None, Errors]:
    try:
        return model.model_validate(fields), {}
    except ValidationError as exc:
        return None, field_errors(exc)


async def submit_form(
    request: Request,
    model: type[FormModel],
    act: Callable[[FormModel], Awaitable[tuple[Outcome | None, Errors]]],
) -> tuple[dict[str, str], Outcome | None, Errors]:
    """Parse the posted form and, if it is valid, `act` on it. Returns the fields as posted
    (to show again), what `act` gave (None: nothing done) and the errors per field."""
    fields = await form_fields(request)
    form, errors = parse_form(model, fields)
    if form is None:
        return fields, None, errors
    outcome, errors = await act(form)
    return fields, outcome, errors
