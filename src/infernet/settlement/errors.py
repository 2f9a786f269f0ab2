"""Settlement errors, one hierarchy, translated at the boundary (RPC, key files).

SettlementError                  anything settlement cannot do; the message says what to do
├── SettlementConfigError        bad settings: unknown chain, wrong token, bad xpub (exit 3)
│   └── KeyFileError             the hot-wallet key is missing, unreadable or too open
├── ChainUnavailable             the RPC endpoint cannot be reached or answers garbage
└── DeepReorg                    the chain forked below every block we remember: stop
                                 crediting until an operator looks (reconcile says what)
"""

from __future__ import annotations


class SettlementError(Exception):
    """Settlement cannot go on; the message is a sentence that says what to do."""


class SettlementConfigError(SettlementError):
    """Settings that cannot work (the CLI exits 3 on these)."""


class KeyFileError(SettlementConfigError):
    """The hot-wallet key cannot be loaded. The message never contains the key."""


class ChainUnavailable(SettlementError):
    """The chain's RPC endpoint failed; the caller retries on its next tick."""


class DeepReorg(SettlementError):
    """The chain no longer contains any block we checkpointed: a fork deeper than our
    history. Credits stop; `reconcile` lists what differs."""
