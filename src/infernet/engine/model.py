"""One GGUF model loaded in llama.cpp, generating with exact token accounting.

`create_chat_completion(stream=True)` in llama-cpp-python yields text but no counts. We
wrap `Llama.generate` to count the prompt it is given and every token it samples, which is
exactly what llama-cpp-python reports as `usage` for a non-streamed completion (the
end-of-generation token is sampled but not counted, as there).

llama.cpp's own log goes to stderr, which is the engine's log file: all of it while the
model loads (system info, model metadata: what a crash report needs), then warnings and
errors only, instead of a timing report per request.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from infernet.engine.context import choose_context

# ggml's enum ggml_log_level (llama-cpp-python's own callback has an older order and
# prints debug lines as info): 1 debug, 2 info, 3 warn, 4 error, 5 continues the last line.
_INFO, _WARN, _CONT = 2, 3, 5
_log_state = {"least": _INFO, "printing": 0}


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _log_to_stderr(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    """llama.cpp's log lines at level `least` and above, to stderr."""
    if level != _CONT:
        _log_state["printing"] = int(level >= _log_state["least"])
    if _log_state["printing"]:
        sys.stderr.write(text.decode("utf-8", "replace"))
        sys.stderr.flush()


@dataclass
class TokenCount:
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _CountingLlama(llama_cpp.Llama):
    """A Llama whose `generate` records how many tokens went in and came out."""

    counts: TokenCount

    def generate(
        self, tokens: Sequence[int], *args: Any, **kwargs: Any
    ) -> Generator[int, Sequence[int] | None, None]:
        self.counts = TokenCount(prompt_tokens=len(tokens))
        for token in super().generate(tokens, *args, **kwargs):
            if not llama_cpp.llama_vocab_is_eog(self._model.vocab, token):
                self.counts.completion_tokens += 1
            yield token


class LoadedModel:
    """A model file served under an alias; one generation at a time, as llama.cpp needs."""

    def __init__(
        self,
        path: Path,
        alias: str,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_batch: int = 512,
    ):
        self.path = path
        self.alias = alias
        self.context = choose_context(path, n_ctx)  # the trained context, if memory allows
        self.n_ctx = self.context.n_ctx
        self.size_bytes = path.stat().st_size
        llama_cpp.llama_log_set(_log_to_stderr, ctypes.c_void_p(0))
        _log_state["least"] = _INFO
        # verbose=False would send the load's output to /dev/null (suppress_stdout_stderr).
        self._llama: Any = _CountingLlama(
            model_path=str(path),
            n_ctx=self.n_ctx,
            n_threads=n_threads,
            n_batch=n_batch,
            verbose=True,
        )
        self._llama.verbose = False  # no timing report per request from here on
        _log_state["least"] = _WARN
        self.lock = threading.Lock()

    def prefill_prompt(self, messages: list[dict[str, Any]]) -> str | None:
        """When the last message is the assistant's, the prompt that makes the model
        continue that message (as llama-server does), rendered with the model's own chat
        template; None for an ordinary conversation."""
        if not messages or messages[-1].get("role") != "assistant":
            return None
        formatter = self.chat_formatter()
        if formatter is None:
            return None
        rendered = formatter(messages=cast(Any, messages[:-1])).prompt
        return str(rendered) + str(messages[-1].get("content") or "")

    def chat_formatter(self) -> Jinja2ChatFormatter | None:
        """The model's own chat template (None: the file has none)."""
        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        vocab = self._llama._model
        return Jinja2ChatFormatter(
            template,
            eos_token=self.eos_token,
            bos_token=vocab.token_get_text(self._llama.token_bos()),
        )

    @property
    def eos_token(self) -> str:
        return str(self._llama._model.token_get_text(self._llama.token_eos()))

    @property
    def llama(self) -> Any:
        """The llama-cpp-python model itself (hold `lock` to use it)."""
        return self._llama

    def chat_stream(
        self, body: dict[str, Any], cancelled: threading.Event
    ) -> Iterator[tuple[str, str | None]]:
        """Yield (text, finish_reason) pieces; call `usage()` afterwards. Hold `lock`."""
        sampling: dict[str, Any] = {
            "max_tokens": body.get("max_tokens"),
            "temperature": float(body.get("temperature", 0.8)),
            "top_p": float(body.get("top_p", 0.95)),
            "stop": body.get("stop"),
            "seed": body.get("seed"),
            "stream": True,
        }
        prefill = self.prefill_prompt(body["messages"])
        if prefill is not None:
            for chunk in self._llama.create_completion(prompt=prefill, **sampling):
                if cancelled.is_set():
                    break
                choice = chunk["choices"][0]
                yield (choice.get("text") or "", choice.get("finish_reason"))
            return
        for chunk in self._llama.create_chat_completion(messages=body["messages"], **sampling):
            if cancelled.is_set():
                break
            choice = chunk["choices"][0]
            yield (choice["delta"].get("content") or "", choice.get("finish_reason"))

    def usage(self) -> TokenCount:
        counts: TokenCount = self._llama.counts
        return counts
