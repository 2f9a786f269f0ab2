"""`infernet chat`: send a job through the network and print the answer.

Exit codes (README): 2 when the control plane finds the request malformed (400, 413,
422), 4 when it cannot be reached or refuses the job (no key, no funds, no node serving
the model, rate limit, 5xx), 1 when the job ran and failed.
"""

from __future__ import annotations

import json
import sys
import time

import httpx
import typer

from infernet.cli.common import Exit, fail
from infernet.httperrors import describe

DEFAULT_URL = "http://127.0.0.1:8700"


def _prompt_text(prompt: str | None) -> str:
    if prompt in (None, "-"):
        if sys.stdin.isatty():
            raise fail('give a prompt, e.g. infernet chat "Hello", or pipe one in', Exit.USAGE)
        prompt = sys.stdin.read()
    assert prompt is not None
    if not prompt.strip():
        raise fail("the prompt is empty", Exit.USAGE)
    return prompt


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
        message = f"{body.get('error')}: {body.get('error_message')}"
    except (json.JSONDecodeError, AttributeError):
        message = response.text
    bad_request = response.status_code in (400, 413, 422)
    raise fail(message, Exit.USAGE if bad_request else Exit.CONTROL_PLANE)


def _pick_model(client: httpx.Client) -> str:
    response = client.get("/api/v1/models")
    _raise_for(response)
    models = response.json()["models"]
    if not models:
        raise fail(
            "no online node serves any model right now, so there is nothing to send the job to; "
            "start a node (`infernet start`) or try again later.",
            Exit.CONTROL_PLANE,
        )
    return str(models[0]["id"])


def _stream(client: httpx.Client, body: dict[str, object]) -> None:
    with client.stream(
        "POST",
        "/api/v1/jobs",
        json={**body, "stream": True},
        headers={"Accept": "text/event-stream"},
    ) as response:
        if response.status_code >= 400:
            response.read()
            _raise_for(response)
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                typer.echo()
                return
            event = json.loads(data)
            if "error" in event:
                typer.echo()
                raise fail(f"{event['error']}: {event.get('message')}", Exit.FAILED)
            typer.echo(event.get("text", ""), nl=False)
    raise fail("the stream ended without [DONE]", Exit.FAILED)


def _poll(client: httpx.Client, body: dict[str, object], as_json: bool) -> None:
    response = client.post("/api/v1/jobs", json=body)
    _raise_for(response)
    job_id = response.json()["id"]
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}")
        _raise_for(job)
        data = job.json()
        if data["status"] == "completed":
            typer.echo(json.dumps(data) if as_json else data["result"]["content"])
            return
        if data["status"] == "failed":
            raise fail(f"Job failed: {data['error']} — {data['error_message']}", Exit.FAILED)
        time.sleep(0.5)


def _confidential(client: httpx.Client, body: dict[str, object], stream: bool) -> None:
    """Book §6.6: only the chosen node can read the prompt or the answer."""
    from infernet.client.confidential import confidential_chat, stream_confidential
    from infernet.protocol.confidential import ConfidentialError

    model, prompt = str(body.pop("model")), body.pop("messages")[0]["content"]  # type: ignore[index]
    try:
        if stream:
            for text in stream_confidential(client, model, str(prompt), params=body):
                typer.echo(text, nl=False)
            typer.echo()
        else:
            typer.echo(confidential_chat(client, model, str(prompt), params=body))
    except ConfidentialError as exc:
        raise fail(str(exc), Exit.FAILED) from exc


def chat(
    prompt: str = typer.Argument(None, help="The prompt; read from stdin when omitted or '-'."),
    stream: bool = typer.Option(False, "--stream", help="Print tokens as they arrive."),
    model: str = typer.Option(
        None, "--model", "-m", help="Model name (default: the first served)."
    ),
    max_tokens: int = typer.Option(512, help="Most tokens to generate."),
    temperature: float = typer.Option(0.7, help="Sampling temperature, 0 to 2."),
    seed: int = typer.Option(None, help="Seed for reproducible sampling."),
    url: str = typer.Option(
        DEFAULT_URL, envvar="INFERNET_CONTROL_PLANE_URL", help="Control plane URL."
    ),
    api_key: str = typer.Option(..., envvar="INFERNET_API_KEY", help="Your API key."),
    as_json: bool = typer.Option(False, "--json", help="Print the finished job as JSON."),
    confidential: bool = typer.Option(
        False, "--confidential", help="Encrypt the prompt to the node's model key (NIP-44)."
    ),
) -> None:
    """Send a chat job through the network and print the answer."""
    text = _prompt_text(prompt)
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=360) as client:
            body: dict[str, object] = {
                "model": model or _pick_model(client),
                "messages": [{"role": "user", "content": text}],
                "max_tokens": max_tokens,
                "temperature": temperature,
            }
            if seed is not None:
                body["seed"] = seed
            if confidential:
                _confidential(client, body, stream)
            elif stream and not as_json:
                _stream(client, body)
            else:
                _poll(client, body, as_json)
    except httpx.HTTPError as exc:
        raise fail(
            f"cannot reach the control plane at {url}: {describe(exc)}", Exit.CONTROL_PLANE
        ) from exc
