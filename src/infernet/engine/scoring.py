"""The embedded engine's scoring endpoints, shaped like llama-server's, so the control
plane's verifier (controlplane/verification/) can re-score a node's answer here or on any
stock `llama-server`:

- `POST /tokenize` `{content, add_special, with_pieces}` -> `{tokens}` (ids, or
  `{id, piece}` objects with `with_pieces`); special tokens in the text are parsed;
- `POST /apply-template` `{messages}` -> `{prompt}`: the model's chat template rendered
  with the generation prompt, the text a chat completion starts from;
- `POST /completion` `{prompt: [ids], n_probs}` -> one token: `content` and
  `completion_probabilities[0]` = `{id, token, logprob, top_logprobs: [{id, token,
  logprob}]}`, the log-softmax of the raw logits (llama-server's `post_sampling_probs`
  false). The longest prefix already evaluated is reused, so scoring positions of one
  answer in increasing order costs about one prefill of it.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from infernet.engine.model import LoadedModel

MAX_PROBS = 100


def _piece(llama: Any, token: int) -> str:
    # llama-cpp-python hands back its whole 32-byte buffer, NUL-padded.
    raw: bytes = llama._model.token_to_piece(token, special=True)
    return raw.rstrip(b"\0").decode("utf-8", "replace")


def tokenize(model: LoadedModel, text: str, add_special: bool) -> list[int]:
    llama: Any = model.llama
    tokens: list[int] = llama.tokenize(text.encode("utf-8"), add_bos=add_special, special=True)
    return tokens


def render(model: LoadedModel, messages: list[dict[str, Any]]) -> str:
    formatter = model.chat_formatter()
    if formatter is None:
        raise ValueError("the model has no chat template")
    return str(formatter(messages=cast(Any, messages)).prompt)


def next_token(model: LoadedModel, tokens: list[int], n_probs: int) -> dict[str, Any]:
    """The log-probabilities of the token after `tokens` (hold `model.lock`)."""
    llama: Any = model.llama
    cached = llama.input_ids[: llama.n_tokens].tolist()
    keep = 0
    while keep < min(len(cached), len(tokens) - 1) and cached[keep] == tokens[keep]:
        keep += 1
    llama.n_tokens = keep
    llama.eval(tokens[keep:])
    # Without `logits_all` llama-cpp-python keeps no scores: read the last row from llama.cpp.
    row = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
    logits = row.astype(np.float64)
    logprobs = logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))
    top = np.argsort(-logprobs)[: max(1, min(n_probs, MAX_PROBS))]
    entries = [
        {"id": int(t), "token": _piece(llama, int(t)), "logprob": float(logprobs[t])} for t in top
    ]
    return {**entries[0], "top_logprobs": entries}


def install_scoring_routes(app: FastAPI, model: LoadedModel) -> None:
    async def locked(work: Any, *args: Any) -> Any:
        def run() -> Any:
            with model.lock:
                return work(model, *args)

        return await asyncio.get_running_loop().run_in_executor(None, run)

    @app.post("/tokenize")
    async def tokenize_route(request: Request) -> dict[str, Any]:
        body = await request.json()
        ids = await locked(tokenize, str(body.get("content", "")), bool(body.get("add_special")))
        if body.get("with_pieces"):
            return {"tokens": [{"id": t, "piece": _piece(model.llama, t)} for t in ids]}
        return {"tokens": ids}

    @app.post("/apply-template", response_model=None)
    async def apply_template(request: Request) -> dict[str, Any] | JSONResponse:
        body = await request.json()
        try:
            return {"prompt": await locked(render, list(body.get("messages") or []))}
        except ValueError as exc:
            return JSONResponse({"error": {"code": 400, "message": str(exc)}}, 400)

    @app.post("/completion", response_model=None)
    async def completion(request: Request) -> dict[str, Any] | JSONResponse:
        body = await request.json()
        prompt = body.get("prompt")
        if (
            not isinstance(prompt, list)
            or not prompt
            or not all(isinstance(t, int) for t in prompt)
        ):
            message = "this engine scores token-id prompts only (a non-empty list of ids)"
            return JSONResponse({"error": {"code": 400, "message": message}}, 400)
        if len(prompt) >= model.n_ctx:
            return JSONResponse({"error": {"code": 400, "message": "prompt exceeds context"}}, 400)
        probs = await locked(next_token, prompt, int(body.get("n_probs") or 1))
        return {
            "content": probs["token"],
            "tokens_evaluated": len(prompt),
            "completion_probabilities": [probs],
        }
