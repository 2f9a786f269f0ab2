"""llama.cpp: `llama-server` (or Infernet's embedded engine, which speaks the same API).

Models are GGUF files. The server loads one model per instance and names it by its GGUF
file name (or `--alias`); files in the models directory that no running instance serves
are reported as installed but not loaded. The context each request gets is the server's
per-slot `n_ctx` from `GET /props` (`default_generation_settings.n_ctx`; llama-server
divides `-c` among its `--parallel` slots); a server without `/props` (llama-swap) leaves
it unknown. Install copies a GGUF from a path or downloads
it from a URL (resumable, with progress) into the models directory.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import httpx

from infernet.backends.base import (
    BackendHealth,
    GenerationEvent,
    GenerationRequest,
    InstalledModel,
    PullProgress,
)
from infernet.backends.errors import InstallFailed, ModelNotLoaded
from infernet.backends.openai_compat import mapped_http_errors, stream_chat

_CHUNK = 1 << 20


class LlamaCppBackend:
    def __init__(self, host: str, models_dir: Path | None = None, *, timeout: float = 300.0):
        self._host = host.rstrip("/")
        self._models_dir = models_dir
        self._client = httpx.AsyncClient(
            base_url=self._host, timeout=httpx.Timeout(timeout, connect=5.0)
        )

    @property
    def name(self) -> str:
        return "llamacpp"

    @property
    def host(self) -> str:
        return self._host

    async def health(self) -> BackendHealth:
        try:
            with mapped_http_errors(self._host):
                response = await self._client.get("/health", timeout=5.0)
        except Exception as exc:  # any failure means "not healthy", with the reason
            return BackendHealth(ok=False, detail=str(exc))
        if response.status_code != 200:
            return BackendHealth(ok=False, detail=f"/health answered {response.status_code}")
        return BackendHealth(ok=True, detail="ok")

    async def _served(self) -> list[InstalledModel]:
        with mapped_http_errors(self._host):
            response = await self._client.get("/v1/models", timeout=10.0)
        response.raise_for_status()
        context = await self._slot_context()
        models = []
        for entry in response.json().get("data", []):
            size = (entry.get("meta") or {}).get("size")
            size_bytes = int(size) if size else None
            models.append(InstalledModel(entry["id"], size_bytes, True, context))
        return models

    async def _slot_context(self) -> int | None:
        """The context one request gets, from `/props`; None when the server does not say."""
        with mapped_http_errors(self._host):
            response = await self._client.get("/props", timeout=10.0)
        if response.status_code != 200:
            return None
        settings = response.json().get("default_generation_settings")
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None

    async def list_models(self) -> list[InstalledModel]:
        served = await self._served()
        names = {m.name for m in served}
        on_disk = [
            InstalledModel(p.name, p.stat().st_size, loaded=False)
            for p in self._gguf_files()
            if p.name not in names
        ]
        return served + on_disk

    def _gguf_files(self) -> list[Path]:
        if self._models_dir is None or not self._models_dir.is_dir():
            return []
        return sorted(self._models_dir.glob("*.gguf"))

    def _require_models_dir(self) -> Path:
        if self._models_dir is None:
            raise InstallFailed("no models directory is configured (llamacpp_models_dir)")
        self._models_dir.mkdir(parents=True, exist_ok=True)
        return self._models_dir

    async def install(self, model: str) -> AsyncIterator[PullProgress]:
        target_dir = self._require_models_dir()
        if urlparse(model).scheme in ("http", "https"):
            async for progress in self._download(model, target_dir):
                yield progress
            return
        source = Path(model).expanduser()
        if not source.is_file() or source.suffix != ".gguf":
            raise InstallFailed(f"{model!r} is neither a .gguf file nor an http(s) URL")
        total = source.stat().st_size
        yield PullProgress(f"copying {source.name}", 0, total)
        shutil.copyfile(source, target_dir / source.name)
        yield PullProgress("success", total, total)

    async def _download(self, url: str, target_dir: Path) -> AsyncIterator[PullProgress]:
        name = Path(urlparse(url).path).name
        if not name.endswith(".gguf"):
            raise InstallFailed(f"{url} does not name a .gguf file")
        partial = target_dir / (name + ".part")
        done = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={done}-"} if done else {}
        async with (
            httpx.AsyncClient(timeout=60.0, follow_redirects=True) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code not in (200, 206):
                raise InstallFailed(f"download of {url} failed: HTTP {response.status_code}")
            if response.status_code == 200:
                done = 0  # the server ignored the range: start over
            length = int(response.headers.get("content-length", 0))
            total = done + length if length else None
            with open(partial, "ab" if done else "wb") as out:
                async for chunk in response.aiter_bytes(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    yield PullProgress(f"downloading {name}", done, total)
        partial.rename(target_dir / name)
        yield PullProgress("success", done, done)

    async def remove(self, model: str) -> None:
        if model in {m.name for m in await self._served()}:
            raise InstallFailed(
                f"{model} is loaded by the running llama.cpp server at {self._host}; "
                "stop that server before deleting its model file"
            )
        path = self._require_models_dir() / Path(model).name
        if not path.is_file():
            raise ModelNotLoaded(f"{model} is not in {self._models_dir}")
        path.unlink()

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        return stream_chat(self._client, request)

    async def close(self) -> None:
        await self._client.aclose()
