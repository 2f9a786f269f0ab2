"""Confidential inference (Book §6.6) on NIP-44 v2: what client and node agree on.

1. The client picks a node's *model key* (`GET /api/v1/models/{model}/keys`) and makes a
   one-off key of its own; the conversation key is ECDH(client, model key) through
   NIP-44's HKDF (`protocol/nip44.py`).
2. The prompt travels as `EncryptedPrompt.ciphertext`: the NIP-44 payload of the JSON
   `{"messages": [{"role": ..., "content": ...}, ...]}`. The job is pinned to that node.
3. The node decrypts with the model key, runs the job, and streams each token as its own
   NIP-44 payload under the same conversation key, followed by a newline (base64 never
   contains one). The control plane relays and stores these lines only; the client
   splits the stored or streamed text on newlines and decrypts each line.

NIP-44 v2 carries 1..65535 bytes of plaintext per payload, so a prompt is limited to
64 KiB of JSON; empty token texts are not sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ValidationError

from infernet.protocol import nip44
from infernet.protocol.keys import NodeKey
from infernet.protocol.wire import ChatMessageIn, EncryptedPrompt

MAX_PROMPT_BYTES = 65535
SEPARATOR = "\n"


class ConfidentialError(ValueError):
    """An encrypted prompt or answer cannot be sealed or opened; the text says why."""


class _Prompt(BaseModel):
    messages: list[ChatMessageIn]


def seal_prompt(
    messages: Sequence[ChatMessageIn], client_key: NodeKey, model_pubkey: str
) -> tuple[EncryptedPrompt, bytes]:
    """The encrypted prompt for `model_pubkey`, and the conversation key for the answer."""
    body = _Prompt(messages=list(messages)).model_dump_json()
    if len(body.encode()) > MAX_PROMPT_BYTES:
        raise ConfidentialError(
            f"the prompt is {len(body.encode())} bytes as JSON; NIP-44 v2 carries at most "
            f"{MAX_PROMPT_BYTES}. Send a shorter prompt."
        )
    conversation = nip44.get_conversation_key(client_key, model_pubkey)
    sealed = EncryptedPrompt(
        client_pubkey=client_key.public_hex,
        model_pubkey=model_pubkey,
        ciphertext=nip44.encrypt(body, conversation),
    )
    return sealed, conversation


def open_prompt(sealed: EncryptedPrompt, model_key: NodeKey) -> tuple[list[ChatMessageIn], bytes]:
    """The messages inside `sealed`, and the conversation key to seal the answer with."""
    if sealed.model_pubkey != model_key.public_hex:
        raise ConfidentialError("the prompt is encrypted to another key than this model's")
    try:
        conversation = nip44.get_conversation_key(model_key, sealed.client_pubkey)
        prompt = _Prompt.model_validate_json(nip44.decrypt(sealed.ciphertext, conversation))
    except (nip44.Nip44Error, ValidationError) as exc:
        raise ConfidentialError(f"cannot open the encrypted prompt: {exc}") from exc
    if not prompt.messages:
        raise ConfidentialError("the encrypted prompt holds no messages")
    return prompt.messages, conversation


def seal_token(text: str, conversation: bytes) -> str:
    """One streamed piece: a NIP-44 payload plus the newline that ends it."""
    return nip44.encrypt(text, conversation) + SEPARATOR


def open_answer(streamed: str, conversation: bytes) -> str:
    """The plaintext of everything streamed (or stored) for a confidential job."""
    try:
        return "".join(
            nip44.decrypt(line, conversation) for line in streamed.split(SEPARATOR) if line
        )
    except nip44.Nip44Error as exc:
        raise ConfidentialError(f"cannot open the encrypted answer: {exc}") from exc
