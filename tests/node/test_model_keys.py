"""Per-model keys: created once per model (0600), authorized by the node key, stored under
a safe file name, re-signed after a node key rotation, and used to sign provenance."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from infernet.node.config import NodeConfig
from infernet.node.model_keys import (
    ModelKeyError,
    ModelKeyring,
    ensure_for_install,
    ensure_model_key,
    find_model_key,
    list_model_keys,
    model_key_path,
    model_key_stem,
    resign_model_keys,
)
from infernet.protocol.delegation import verify_model_key
from infernet.protocol.keys import NodeKey
from infernet.protocol.provenance import verify_output


@pytest.fixture
def node_key() -> NodeKey:
    return NodeKey.generate()


def test_a_model_key_is_created_once_owner_only_and_authorized_by_the_node(
    tmp_path: Path, node_key: NodeKey
) -> None:
    first = ensure_model_key(tmp_path, node_key, "qwen2.5:14b")
    again = ensure_model_key(tmp_path, node_key, "qwen2.5:14b")
    assert first.path == tmp_path / "models" / "qwen2.5:14b.key"
    assert again.key == first.key and again.statement == first.statement
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    verify_model_key(first.statement, node_pubkey=node_key.public_hex, model="qwen2.5:14b")
    assert first.statement.model_pubkey == first.key.public_hex


def test_each_model_gets_its_own_key(tmp_path: Path, node_key: NodeKey) -> None:
    a = ensure_model_key(tmp_path, node_key, "qwen2.5:7b")
    b = ensure_model_key(tmp_path, node_key, "llama3.1:8b")
    assert a.key != b.key and a.key != node_key


@pytest.mark.parametrize(
    "model",
    [
        "hf:Qwen/Qwen2.5-7B-Instruct",
        "../../etc/passwd",
        ".hidden",
        "a b/c",
        "x" * 300,
        "model.key",
        "ünïcode",
    ],
)
def test_unsafe_model_names_become_safe_distinct_file_names(model: str) -> None:
    stem = model_key_stem(model)
    assert "/" not in stem and not stem.startswith(".") and len(stem) <= 100
    assert model_key_stem(model) == stem, "stable"
    assert model_key_path(Path("/k"), model).parent == Path("/k/models")


def test_names_that_sanitize_alike_stay_apart() -> None:
    assert model_key_stem("a/b") != model_key_stem("a_b") != model_key_stem("a b")
    assert model_key_stem("qwen2.5:14b") == "qwen2.5:14b"


def test_a_key_file_belonging_to_another_model_is_refused(
    tmp_path: Path, node_key: NodeKey
) -> None:
    made = ensure_model_key(tmp_path, node_key, "m:1b")
    made.path.with_name("m:1b.json").write_text(
        made.statement.model_copy(update={"model": "other"}).model_dump_json()
    )
    with pytest.raises(ModelKeyError, match="belongs to model 'other'"):
        ensure_model_key(tmp_path, node_key, "m:1b")


def test_after_a_node_key_rotation_statements_are_re_signed(
    tmp_path: Path, node_key: NodeKey
) -> None:
    before = ensure_model_key(tmp_path, node_key, "m:1b")
    new_node = NodeKey.generate()
    [after] = resign_model_keys(tmp_path, new_node)
    assert after.key == before.key, "the model keeps its key"
    verify_model_key(after.statement, node_pubkey=new_node.public_hex, model="m:1b")


def test_keys_are_listed_and_found_by_model_name(tmp_path: Path, node_key: NodeKey) -> None:
    ensure_model_key(tmp_path, node_key, "b:1b")
    made = ensure_model_key(tmp_path, node_key, "hf:Org/A")
    assert [k.model for k in list_model_keys(tmp_path)] == ["b:1b", "hf:Org/A"]
    found = find_model_key(tmp_path, "hf:Org/A")
    assert found is not None and found.public_hex == made.key.public_hex
    assert find_model_key(tmp_path, "absent") is None
    assert list_model_keys(tmp_path / "nowhere") == []


def test_install_creates_the_key_beside_the_node_key(tmp_path: Path, node_key: NodeKey) -> None:
    node_key.save(tmp_path / "keys" / "node.key")
    config = NodeConfig(key_path=str(tmp_path / "keys" / "node.key"))
    made = ensure_for_install(config, "m:1b")
    assert made is not None and made.path == tmp_path / "keys" / "models" / "m:1b.key"


def test_install_without_a_node_key_says_so_and_goes_on(tmp_path: Path) -> None:
    config = NodeConfig(key_path=str(tmp_path / "missing" / "node.key"))
    assert ensure_for_install(config, "m:1b") is None


def test_the_keyring_signs_what_the_model_generated(tmp_path: Path, node_key: NodeKey) -> None:
    ring = ModelKeyring(tmp_path, node_key)
    proof = ring.provenance("m:1b", "job_1", 2, "Paris.")
    assert proof is not None and proof.model_key is not None
    assert verify_output(proof.model_pubkey, proof.signature, "job_1", 2, "Paris.")
    verify_model_key(proof.model_key, node_pubkey=node_key.public_hex, model="m:1b")
    assert ring.key_for("m:1b").key.public_hex == proof.model_pubkey
