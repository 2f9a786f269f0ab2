"""Upper bounds of what a job can use, computed by the control plane alone: what a client
is held for (billing.py) and the most a node's usage claim is believed (jobs/claims.py).

* prompt: a byte-level tokenizer spends at least one byte per token, so a prompt holds at
  most its UTF-8 bytes in tokens, plus what the chat template adds per message and once
  (protocol/tokens.py, the one definition, shared with the context-length checks). A
  confidential prompt is bounded by its ciphertext's size (NIP-44 pads, never shrinks;
  the JSON around each message is more bytes than the 16 tokens a plain message adds).
  Bound it per attempt from the messages actually sent: a continuation after failover
  re-sends the delivered text.
* output: a token is at most `MAX_TOKEN_CHARS` characters (the longest tokens of common
  vocabularies are runs of spaces or punctuation well under it); a confidential token
  travels as one NIP-44 payload line, at most `CONFIDENTIAL_TOKEN_CHARS`.
"""

from __future__ import annotations

from collections.abc import Sequence

from infernet.protocol import nip44
from infernet.protocol.tokens import TEMPLATE_FIXED, prompt_bounds
from infernet.protocol.wire import ChatMessageIn, EncryptedPrompt

MAX_TOKEN_CHARS = 256


def _payload_chars(plaintext_bytes: int) -> int:
    """Characters of a NIP-44 payload (base64) carrying `plaintext_bytes`, plus its newline."""
    raw = 1 + 32 + 2 + nip44.calc_padded_len(plaintext_bytes) + 32
    return 4 * -(-raw // 3) + 1


# A token of MAX_TOKEN_CHARS characters is at most 4 UTF-8 bytes each.
CONFIDENTIAL_TOKEN_CHARS = _payload_chars(4 * MAX_TOKEN_CHARS)


def prompt_bound(messages: Sequence[ChatMessageIn], encrypted: EncryptedPrompt | None) -> int:
    """An upper bound of the prompt's token count (see the module docstring)."""
    if encrypted is not None:
        return nip44.plaintext_bound(encrypted.ciphertext) + TEMPLATE_FIXED
    return prompt_bounds(messages).upper


def output_chars_bound(max_tokens: int, confidential: bool) -> int:
    """The most characters `max_tokens` tokens can stream."""
    return max_tokens * (CONFIDENTIAL_TOKEN_CHARS if confidential else MAX_TOKEN_CHARS)
