"""Runs one job on the backend and reports every token up the job channel as it comes.

The backend's real usage goes up with `JobDone`; any backend failure becomes `JobFailed`
with the engine's reason. Nothing is ever made up in place of the engine's output.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from infernet.backends.base import Backend, ChatMessage, Finish, GenerationRequest, TokenDelta
from infernet.backends.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelNotLoaded,
)
from infernet.node.receipting import sign_receipt
from infernet.protocol.keys import NodeKey
from infernet.protocol.wire import (
    JobAssignment,
    JobDone,
    JobFailed,
    JobToken,
    Provenance,
    UsageReport,
)

log = logging.getLogger("infernet.node")
Send = Callable[[JobToken | JobDone | JobFailed], Awaitable[None]]


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
    ids = {"job_id": job.job_id, "attempt": job.attempt}
    generated: list[str] = []  # this attempt's text, for the provenance signature
    try:
        async for event in backend.generate(generation_request(job)):
            if isinstance(event, TokenDelta):
                generated.append(event.text)
                await send(JobToken(text=event.text, **ids))
            elif isinstance(event, Finish):
                usage = event.usage
                await send(
                    JobDone(
                        usage=UsageReport(
                            prompt_tokens=usage.prompt_tokens,
                            completion_tokens=usage.completion_tokens,
                            source=usage.source,
                        ),
                        finish_reason=event.finish_reason,
                        receipt=sign_receipt(job, usage, key),
                        provenance=provenance.provenance(
                            job.model, job.job_id, job.attempt, "".join(generated)
                        )
                        if provenance
                        else None,
                        **ids,
                    )
                )
                rate = usage.completion_tokens / max(time.monotonic() - started, 1e-6)
                log.info(
                    f"Job {job.job_id} complete: {usage.completion_tokens} tokens, "
                    f"{rate:.0f} tok/s",
                    extra={"job_id": job.job_id},
                )
                return
    except ModelNotLoaded as exc:
        await send(JobFailed(error="model_not_loaded", message=str(exc), **ids))
    except (BackendUnavailable, BackendTimeout) as exc:
        # The engine itself is down: the control plane may finish the job elsewhere.
        log.warning(f"Job {job.job_id}: backend unavailable: {exc}", extra={"job_id": job.job_id})
        await send(
            JobFailed(
                error="backend_unavailable",
                message=f"The node's backend is unavailable: {exc}",
                **ids,
            )
        )
    except BackendError as exc:
        log.warning(f"Job {job.job_id} failed: {exc}", extra={"job_id": job.job_id})
        await send(
            JobFailed(error="backend_error", message=f"The node's backend failed: {exc}", **ids)
        )
    else:
        await send(
            JobFailed(
                error="backend_error",
                message="The backend ended the stream without finishing.",
                **ids,
            )
        )
