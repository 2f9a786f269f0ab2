"""The prefix index: chained block hashes of prompts, what each node was sent, its bounds."""

from __future__ import annotations

from infernet.controlplane.jobs.prefix_index import (
    BLOCK_CHARS,
    MAX_BLOCKS,
    MAX_HOLDERS,
    MAX_MATCHES,
    PrefixIndex,
    Prompt,
)
from infernet.protocol.wire import ChatMessageIn

KEY = "m:1b"
SYSTEM = "You are a careful assistant. " * 100  # about 2,900 characters: five blocks


def chat(*turns: str, session: str | None = None) -> Prompt:
    messages = [ChatMessageIn(role="system", content=SYSTEM)]
    messages += [ChatMessageIn(role="user", content=t) for t in turns]
    return Prompt.of(messages, session)


def test_prompts_sharing_a_start_share_the_hashes_of_its_whole_blocks_and_no_more() -> None:
    first, second = chat("a" * 2000), chat("a" * 1000 + "b" * 1000)
    shared = (len(SYSTEM) + 20 + 1000) // BLOCK_CHARS  # whole blocks before the first "b"
    assert first.blocks[:shared] == second.blocks[:shared]
    assert first.blocks[shared] != second.blocks[shared]
    assert first.blocks[shared + 1] != second.blocks[shared + 1]  # chained: never again equal


def test_a_prompt_shorter_than_a_block_has_none_and_a_huge_one_stops_at_the_limit() -> None:
    assert Prompt.of([ChatMessageIn(role="user", content="hi")]).blocks == ()
    huge = Prompt.of([ChatMessageIn(role="user", content="x" * BLOCK_CHARS * (MAX_BLOCKS + 50))])
    assert len(huge.blocks) == MAX_BLOCKS


def test_a_node_matches_up_to_the_deepest_block_it_was_sent() -> None:
    index = PrefixIndex()
    index.record(KEY, "n1", chat("a" * 3000), now=0.0, capacity=1000)
    index.record(KEY, "n2", chat("z" * 3000), now=0.0, capacity=1000)
    found = index.match(KEY, chat("a" * 3000, "next question"), now=1.0)
    assert found["n1"] == len(chat("a" * 3000).blocks) * BLOCK_CHARS
    assert found["n2"] == (len(SYSTEM) + 20) // BLOCK_CHARS * BLOCK_CHARS  # the system prompt
    assert index.match("other:model", chat("a" * 3000), now=1.0) == {}


def test_entries_older_than_the_ttl_no_longer_count_and_are_evicted() -> None:
    index = PrefixIndex(ttl_s=60)
    index.record(KEY, "n1", chat("a" * 3000), now=0.0, capacity=1000)
    assert index.match(KEY, chat("a" * 3000), now=61.0) == {}
    index.record(KEY, "n1", chat("q"), now=61.0, capacity=1000)
    assert index.entries == len(chat("q").blocks)


def test_a_node_keeps_only_its_cache_size_in_blocks_forgetting_the_oldest() -> None:
    index = PrefixIndex()
    old, new = chat("a" * 3000), Prompt.of([ChatMessageIn(role="user", content="b" * 5000)])
    index.record(KEY, "n1", old, now=0.0, capacity=12)
    index.record(KEY, "n1", new, now=1.0, capacity=12)
    assert index.entries == 12
    assert index.match(KEY, new, now=2.0) == {"n1": len(new.blocks) * BLOCK_CHARS}
    assert "n1" not in index.match(KEY, old, now=2.0)  # its first block went first


def test_a_hot_block_remembers_only_its_most_recent_holders() -> None:
    index = PrefixIndex()
    for i in range(MAX_HOLDERS + 5):
        index.record(KEY, f"n{i}", chat(), now=float(i), capacity=1000)
    found = index.match(KEY, chat(), now=100.0, limit=100)
    assert sorted(found) == sorted(f"n{i}" for i in range(5, MAX_HOLDERS + 5))


def test_a_match_returns_the_nodes_holding_the_most_of_the_prompt_first() -> None:
    index = PrefixIndex()
    for i in range(6):
        index.record(KEY, f"shared{i}", chat(), now=0.0, capacity=1000)
    index.record(KEY, "deep", chat("a" * 3000), now=0.0, capacity=1000)
    found = index.match(KEY, chat("a" * 3000, "next"), now=1.0)
    assert len(found) == MAX_MATCHES and "deep" in found
    assert found["deep"] > max(chars for node, chars in found.items() if node != "deep")


def test_the_whole_index_stays_within_its_entries_dropping_the_least_recent_node() -> None:
    index = PrefixIndex(max_entries=40)
    for i in range(20):
        index.record(KEY, f"n{i}", chat(f"conversation {i} " * 200), now=float(i), capacity=1000)
        assert index.entries <= 40
    assert "n19" in index.match(KEY, chat("conversation 19 " * 200), now=30.0)
    assert "n0" not in index.match(KEY, chat("conversation 0 " * 200), now=30.0)


def test_short_prompts_leave_nothing_to_evict_and_still_remember_their_session() -> None:
    index = PrefixIndex(max_entries=10)
    short = Prompt.of([ChatMessageIn(role="user", content="hi")], "carol")
    index.record(KEY, "short", short, now=0.0, capacity=1000)
    for i in range(30):
        index.record(KEY, f"n{i}", chat(f"conversation {i} " * 100), now=float(i), capacity=1000)
    assert index.entries <= 10
    assert index.session_node(KEY, short, now=30.0) == "short"


def test_a_session_matches_its_last_node_for_all_but_the_last_message() -> None:
    index = PrefixIndex()
    index.record(KEY, "n1", chat("hi", session="alice"), now=0.0, capacity=1000)
    index.record(KEY, "n2", chat("hi", session="bob"), now=0.0, capacity=1000)
    index.record(KEY, "n3", chat("hi again", session="alice"), now=1.0, capacity=1000)
    later = chat("hi", "what next?", session="alice")
    assert index.session_node(KEY, later, now=2.0) == "n3"
    assert index.match(KEY, later, now=2.0)["n3"] == later.head_chars
    assert index.session_node(KEY, later, now=1000.0) is None  # past the ttl
