"""`ollama create` + `ollama push` for a published GGUF (Book §9.5 step 5), through the
Ollama server's API as the `ollama` command itself does it:

1. `HEAD /api/blobs/sha256:<digest>`, and when the server lacks it,
   `POST /api/blobs/sha256:<digest>` with the GGUF (201 created, 400 wrong digest);
2. `POST /api/create` with `model`, `files` {name: digest}, `template`, `parameters`,
   `system` (NDJSON status lines, `{"error": ...}` on failure, ending with "success");
3. `POST /api/push` with `model` (`namespace/name`; needs `ollama signin`), same streaming.

`OLLAMA_HOST` (default http://localhost:11434) names the server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from infernet.train.errors import PublishError
from infernet.train.filehash import file_chunks, file_sha256
from infernet.train.modelfile import Modelfile

DEFAULT_HOST = "http://localhost:11434"


def ollama_host() -> str:
    host = os.environ.get("OLLAMA_HOST", DEFAULT_HOST).strip()
    return host if "://" in host else f"http://{host}"


def _stream(client: httpx.Client, path: str, body: dict[str, Any], what: str) -> list[str]:
    statuses = []
    with client.stream("POST", path, json=body) as response:
        for line in response.iter_lines():
            if not line.strip():
                continue
            event = json.loads(line)
            if "error" in event:
                raise PublishError(f"ollama {what} failed: {event['error']}")
            statuses.append(str(event.get("status", "")))
        if response.status_code != 200:
            raise PublishError(f"ollama {what} failed: HTTP {response.status_code}")
    if not statuses or statuses[-1] != "success":
        raise PublishError(f"ollama {what} did not finish (last status: {statuses[-1:]})")
    return statuses


def _unreachable(host: str, exc: Exception) -> PublishError:
    return PublishError(
        f"Ollama at {host} could not be reached ({exc.__class__.__name__}): start it "
        "(`ollama serve`), set OLLAMA_HOST, or publish with --skip-ollama"
    )


def check_reachable() -> None:
    """Fail before the long conversion when no Ollama server answers."""
    host = ollama_host()
    try:
        httpx.get(f"{host}/api/version", timeout=5.0).raise_for_status()
    except httpx.HTTPError as exc:
        raise _unreachable(host, exc) from exc


def create_and_push(
    gguf: Path, modelfile: Modelfile, model: str, *, push: bool, say: Callable[[str], None]
) -> None:
    host = ollama_host()
    try:
        with httpx.Client(base_url=host, timeout=httpx.Timeout(600.0, connect=5.0)) as client:
            digest = f"sha256:{file_sha256(gguf)}"
            if client.head(f"/api/blobs/{digest}").status_code != 200:
                say(f"Uploading {gguf.name} to Ollama at {host}")
                done = client.post(f"/api/blobs/{digest}", content=file_chunks(gguf))
                if done.status_code not in (200, 201):
                    raise PublishError(f"ollama refused the blob: HTTP {done.status_code}")
            body: dict[str, Any] = {
                "model": model,
                "files": {gguf.name: digest},
                "template": modelfile.template,
                "parameters": modelfile.parameters(),
            }
            if modelfile.system:
                body["system"] = modelfile.system
            _stream(client, "/api/create", body, "create")
            say(f"Created {model} in Ollama")
            if push:
                _stream(client, "/api/push", {"model": model}, "push")
                say(f"Pushed {model}")
    except httpx.HTTPError as exc:
        raise _unreachable(host, exc) from exc
