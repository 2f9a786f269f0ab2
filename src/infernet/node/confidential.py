"""The node's half of confidential inference (protocol/confidential.py has the format).

A job that arrives with `encrypted` is opened with the key of the model it names (the
per-model key from `node/model_keys.py`; the node key is accepted too, for clients that
only know the node's identity). The job then runs like any other, except that the backend
is wrapped in `SealedBackend`, which encrypts each token before the executor sees it. So
what goes up the channel, what the model key's provenance signature covers, and what the
control plane stores are all ciphertext; the plaintext prompt and answer exist only in
this process and the engine.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from infernet.backends.base import (
    Backend,
    BackendHealth,
    Finish,
    GenerationEvent,
    GenerationRequest,
    InstalledModel,
    PullProgress,
    TokenDelta,
)
from infernet.node.model_keys import ModelKeyError, ModelKeyring
from infernet.protocol.confidential import ConfidentialError, open_prompt, seal_token
from infernet.protocol.delegation import ModelKeyStatement
from infernet.protocol.keys import KeyFileError, NodeKey
from infernet.protocol.wire import JobAssignment

log = logging.getLogger("infernet.node")


class SealedBackend:
    """`inner`, with every streamed token encrypted under one conversation key."""

    def __init__(self, inner: Backend, conversation: bytes) -> None:
        self._inner, self._conversation = inner, conversation

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def host(self) -> str:
        return self._inner.host

    async def health(self) -> BackendHealth:
        return await self._inner.health()

    async def list_models(self) -> list[InstalledModel]:
        return await self._inner.list_models()

    def install(self, model: str) -> AsyncIterator[PullProgress]:
        return self._inner.install(model)

    async def remove(self, model: str) -> None:
        await self._inner.remove(model)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        async for event in self._inner.generate(request):
            if isinstance(event, TokenDelta):
                if texts := tuple(seal_token(t, self._conversation) for t in event.texts if t):
                    yield TokenDelta(texts)
            elif isinstance(event, Finish):
                yield event

    async def close(self) -> None:
        await self._inner.close()


def model_key_statement(keyring: ModelKeyring, model: str) -> ModelKeyStatement | None:
    """The node-signed statement for `model`'s key (sent in heartbeats), None if unusable."""
    try:
        return keyring.key_for(model).statement
    except (ModelKeyError, KeyFileError, OSError) as exc:
        log.warning(f"No model key to publish for {model}: {exc}")
        return None


def _key_for(job: JobAssignment, keyring: ModelKeyring, node_key: NodeKey) -> NodeKey:
    assert job.encrypted is not None
    if job.encrypted.model_pubkey == node_key.public_hex:
        return node_key
    try:
        model_key = keyring.key_for(job.model).key
    except (ModelKeyError, KeyFileError, OSError) as exc:
        raise ConfidentialError(f"this node has no usable key for {job.model}: {exc}") from exc
    return model_key


def open_job(
    job: JobAssignment, backend: Backend, keyring: ModelKeyring, node_key: NodeKey
) -> tuple[JobAssignment, Backend]:
    """(the job with its messages in clear, the backend to run it on); unchanged for a
    plain job. Raises ConfidentialError when the prompt cannot be opened here."""
    if job.encrypted is None:
        return job, backend
    messages, conversation = open_prompt(job.encrypted, _key_for(job, keyring, node_key))
    log.info(f"Job {job.job_id} is confidential", extra={"job_id": job.job_id})
    return job.model_copy(update={"messages": messages}), SealedBackend(backend, conversation)
