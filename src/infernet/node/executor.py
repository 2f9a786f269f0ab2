"""Runs one job on the backend and reports every token up the job channel as it comes.

The backend's real usage goes up with `JobDone`; any backend failure becomes `JobFailed`
with the engine's reason. A prompt the engine refuses as too long for its context goes up
as `context_length_exceeded` with the engine's own count: the request's fault, which the
control plane answers with a 400 (or gives to a node with a larger context), never the
node's. Nothing is ever made up in place of the engine's output.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from infernet.backends.base import Backend, ChatMessage, Finish, GenerationRequest, TokenDelta
from infernet.backends.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    ModelNotLoaded,
)
from infernet.node.outbox import Tokens
from infernet.node.receipting import sign_receipt
from infernet.protocol.keys import NodeKey
from infernet.protocol.wire import (
    CONTEXT_LENGTH_EXCEEDED,
    JobAssignment,
    JobDone,
    JobFailed,
    Provenance,
    UsageReport,
)

log = logging.getLogger("infernet.node")
Send = Callable[[Tokens | JobDone | JobFailed], Awaitable[None]]


class ProvenanceSigner(Protocol):
    """Signs a job's generated text with its model's key (node/model_keys.ModelKeyring)."""

    def provenance(self, model: str, job_id: str, attempt: int, text: str) -> Provenance | None: ...


def generation_request(job: JobAssignment) -> GenerationRequest:
    return GenerationRequest(
        model=job.model,
        messages=tuple(ChatMessage(m.role, m.content) for m in job.messages),
        max_tokens=job.max_tokens,
        temperature=job.temperature,
        top_p=job.top_p,
        stop=tuple(job.stop),
        seed=job.seed,
    )


def context_refusal(job: JobAssignment, exc: ContextLengthExceeded) -> JobFailed:
    """The engine found the prompt too long: its own numbers, in a sentence a client can act on."""
    prompt = f"{exc.prompt_tokens} tokens" if exc.prompt_tokens is not None else "too long"
    context = f"{exc.context_length} tokens" if exc.context_length is not None else "its context"
    return JobFailed(
        job_id=job.job_id,
        attempt=job.attempt,
        error=CONTEXT_LENGTH_EXCEEDED,
        message=f"The prompt is {prompt} (the engine's count) and {job.model} runs with a "
        f"context of {context} on this node: shorten the prompt ({exc}).",
        prompt_tokens=exc.prompt_tokens,
        context_length=exc.context_length,
    )


def _done(
    job: JobAssignment,
    event: Finish,
    text: str,
    key: NodeKey | None,
    provenance: ProvenanceSigner | None,
) -> JobDone:
    """The message that finishes this attempt: real usage, the signed receipt, and the
    model key's signature over the attempt's text."""
    usage = event.usage
    return JobDone(
        job_id=job.job_id,
        attempt=job.attempt,
        usage=UsageReport(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            source=usage.source,
        ),
        finish_reason=event.finish_reason,
        receipt=sign_receipt(job, usage, key),
        provenance=provenance.provenance(job.model, job.job_id, job.attempt, text)
        if provenance
        else None,
    )


def _failure(job: JobAssignment, exc: BackendError | None) -> JobFailed:
    """What a backend failure tells the control plane (it decides whether to retry)."""
    ids = {"job_id": job.job_id, "attempt": job.attempt}
    if isinstance(exc, ModelNotLoaded):
        return JobFailed(error="model_not_loaded", message=str(exc), **ids)
    if isinstance(exc, ContextLengthExceeded):  # the request's fault, with the engine's count
        return context_refusal(job, exc)
    if isinstance(exc, BackendUnavailable | BackendTimeout):
        # The engine itself is down: the control plane may finish the job elsewhere.
        message = f"The node's backend is unavailable: {exc}"
        return JobFailed(error="backend_unavailable", message=message, **ids)
    if exc is not None:
        return JobFailed(error="backend_error", message=f"The node's backend failed: {exc}", **ids)
    message = "The backend ended the stream without finishing."
    return JobFailed(error="backend_error", message=message, **ids)


async def run_job(
    backend: Backend,
    job: JobAssignment,
    send: Send,
    *,
    key: NodeKey | None = None,
    provenance: ProvenanceSigner | None = None,
) -> None:
    started = time.monotonic()
    log.info(
        f"Job {job.job_id} received: {job.model} on {backend.name}", extra={"job_id": job.job_id}
    )
    generated: list[str] = []  # this attempt's text, for the provenance signature
    try:
        async for event in backend.generate(generation_request(job)):
            if isinstance(event, TokenDelta):
                first = not generated
                generated.extend(event.texts)
                await send(Tokens(job.job_id, job.attempt, event.texts))
                if first:  # the first tokens leave now, not after what is read next
                    await asyncio.sleep(0)
            elif isinstance(event, Finish):
                await send(_done(job, event, "".join(generated), key, provenance))
                tokens = event.usage.completion_tokens
                rate = tokens / max(time.monotonic() - started, 1e-6)
                log.info(
                    f"Job {job.job_id} complete: {tokens} tokens, {rate:.0f} tok/s",
                    extra={"job_id": job.job_id},
                )
                return
    except BackendError as exc:
        log.warning(f"Job {job.job_id} failed: {exc}", extra={"job_id": job.job_id})
        await send(_failure(job, exc))
    else:
        await send(_failure(job, None))
