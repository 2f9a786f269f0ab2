"""Which node probably still holds which prompt prefix in its engine's cache.

An engine that already holds the start of a prompt (the shared system prompt of an app,
the earlier turns of a conversation) skips its prefill: the first token comes sooner.
The control plane cannot see engine caches, so it keeps an approximate index from its own
routing history (as SGLang's cache-aware router does): each prompt is cut into blocks of
`BLOCK_CHARS` characters of the rendered messages, each block's hash chained to the one
before, so one hash stands for the whole prefix up to its block. Sending a prompt to a
node records its block hashes for that node; a later prompt matches a node up to the
deepest block both share.

Bounded: each node holds at most its cache size in blocks (oldest evicted first), entries
older than `ttl_s` no longer count, at most `MAX_HOLDERS` nodes are remembered per block
(the most recent), and the whole index holds at most `max_entries` (the least recently
used node's oldest blocks go first). A lookup costs a bisection over the prompt's blocks
and a walk back from the deepest held one until `MAX_MATCHES` nodes are found. Sessions
a client names (OpenAI's `user`) remember the node their last job ran on, within the
same bounds. Pure and in memory: per replica.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from infernet.protocol.wire import ChatMessageIn

BLOCK_CHARS = 512  # about 128 tokens: fine enough for prompts, coarse enough to be cheap
MAX_BLOCKS = 128  # prompts are indexed up to 64K characters
MAX_HOLDERS = 8  # nodes remembered per block: a hot prefix needs a few, never all
MAX_MATCHES = 4  # nodes a match returns: those holding the most of the prompt
CHARS_PER_TOKEN = 4  # a rough average for English text with common tokenizers
TTL_S = 600.0
MAX_ENTRIES = 200_000  # (block, node) pairs per index: tens of MB at most
MAX_SESSIONS = 100_000


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt as the index sees it: its chained block hashes and how long it is."""

    blocks: tuple[int, ...]
    chars: int
    head_chars: int  # all but the last message: what a sticky session's node holds
    first_chars: int  # the first message (a system prompt that many conversations share)
    session: str | None = None

    @classmethod
    def of(cls, messages: Sequence[ChatMessageIn], session: str | None = None) -> Prompt:
        parts = [f"{m.role}\x1f{m.content}\x1e" for m in messages]
        text = "".join(parts)
        blocks: list[int] = []
        chained = 0
        for start in range(
            0, min(len(text), BLOCK_CHARS * MAX_BLOCKS) - BLOCK_CHARS + 1, BLOCK_CHARS
        ):
            chained = hash((chained, text[start : start + BLOCK_CHARS]))
            blocks.append(chained)
        head = len(text) - len(parts[-1]) if parts else 0
        return cls(tuple(blocks), len(text), head, len(parts[0]) if parts else 0, session)


def _deepest_held(holders: dict[int, dict[str, float]], blocks: tuple[int, ...]) -> int:
    """How many of `blocks` some node holds, by bisection: chained, the blocks a node
    was sent form a prefix (evictions aside, which only make a match shorter)."""
    low, high = 0, len(blocks)
    while low < high:
        middle = (low + high + 1) // 2
        if holders.get(blocks[middle - 1]):
            low = middle
        else:
            high = middle - 1
    return low


class PrefixIndex:
    """Per routing key, what each node was recently sent (see the module docstring)."""

    def __init__(self, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._holders: dict[str, dict[int, dict[str, float]]] = {}  # key -> block -> node -> t
        # (key, node) -> its blocks, least recently sent first; the pairs themselves too.
        self._blocks: OrderedDict[tuple[str, str], OrderedDict[int, None]] = OrderedDict()
        self._sessions: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self.entries = 0

    def match(
        self, key: str, prompt: Prompt, now: float, limit: int = MAX_MATCHES
    ) -> dict[str, int]:
        """Node id -> characters of `prompt` it probably holds: the `limit` nodes holding
        the most of it (their deepest shared block), and the session's last node (all
        but the last message); only nodes with some."""
        found: dict[str, int] = {}
        holders = self._holders.get(key)
        if holders is not None:
            oldest, blocks = now - self.ttl_s, prompt.blocks
            depth = _deepest_held(holders, blocks)
            while depth > 0 and len(found) < limit:  # from the deepest block back
                for node_id, at in holders.get(blocks[depth - 1], {}).items():
                    if at >= oldest and node_id not in found and len(found) < limit:
                        found[node_id] = depth * BLOCK_CHARS
                depth -= 1
        last = self.session_node(key, prompt, now)
        if last is not None:
            found[last] = max(found.get(last, 0), prompt.head_chars)
        return found

    def session_node(self, key: str, prompt: Prompt, now: float) -> str | None:
        """The node the prompt's session last ran on, while that is recent enough."""
        if prompt.session is None:
            return None
        last = self._sessions.get((key, prompt.session))
        return last[0] if last is not None and last[1] >= now - self.ttl_s else None

    def record(self, key: str, node_id: str, prompt: Prompt, now: float, capacity: int) -> None:
        """`prompt` was sent to `node_id`, whose cache holds about `capacity` blocks."""
        if prompt.session is not None:
            self._sessions[(key, prompt.session)] = (node_id, now)
            self._sessions.move_to_end((key, prompt.session))
            if len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        if not prompt.blocks:  # shorter than a block: nothing to index
            return
        holders = self._holders.setdefault(key, {})
        pair = (key, node_id)
        mine = self._blocks.get(pair)
        if mine is None:
            mine = self._blocks[pair] = OrderedDict()
        self._blocks.move_to_end(pair)
        for block in prompt.blocks:
            held = holders.setdefault(block, {})
            if node_id not in held:
                if len(held) >= MAX_HOLDERS:
                    self._forget(key, min(held, key=held.__getitem__), block)
                self.entries += 1
            held[node_id] = now
            mine[block] = None
            mine.move_to_end(block)
        self._evict(key, node_id, mine, max(1, capacity), now)

    def _evict(
        self, key: str, node_id: str, mine: OrderedDict[int, None], capacity: int, now: float
    ) -> None:
        """Past its capacity or age a node forgets its oldest blocks; past `max_entries`
        the least recently used nodes forget theirs."""
        holders = self._holders[key]
        while mine and (
            len(mine) > capacity or holders[next(iter(mine))][node_id] < now - self.ttl_s
        ):
            self._forget(key, node_id, next(iter(mine)))
        while self.entries > self.max_entries:
            (old_key, old_node), blocks = next(iter(self._blocks.items()))
            self._forget(old_key, old_node, next(iter(blocks)))

    def _forget(self, key: str, node_id: str, block: int) -> None:
        holders = self._holders[key]
        held = holders[block]
        del held[node_id]
        if not held:
            del holders[block]
        mine = self._blocks[(key, node_id)]
        del mine[block]
        if not mine:
            del self._blocks[(key, node_id)]
        self.entries -= 1
