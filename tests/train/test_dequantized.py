"""A GGUF base is dequantized once per machine and loaded from that copy afterwards: the
same weights, in a fraction of the time; a file too large to keep, or a cache that cannot
be written, is read from the GGUF as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infernet.train import basemodel, dequantized


class FakeModel:
    """What `dense_folder` asks of a model: a config and `save_pretrained`."""

    def __init__(self) -> None:
        self.config = type("Config", (), {})()
        self.config.quantization_config = "gguf"

    def save_pretrained(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        keys = list(vars(self.config))
        (folder / "config.json").write_text(json.dumps({"keys": keys}))


class FakeTokenizer:
    def save_pretrained(self, folder: Path) -> None:
        (folder / "tokenizer.json").write_text("{}")


def test_the_copy_is_made_once_without_the_gguf_quantization(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transformers = pytest.importorskip("transformers", reason="the train extra is not installed")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    reads: list[int] = []

    def read() -> tuple[Any, Any]:
        reads.append(1)
        return FakeModel(), FakeTokenizer()

    kept = tmp_path / "cache/infernet/train-bases"
    abandoned = kept / f"abc-transformers-{transformers.__version__}.partial-999999999"
    abandoned.mkdir(parents=True)  # a process killed while writing its copy
    folder = dequantized.dense_folder(gguf, "abc", read)
    assert folder is not None and folder.parent == kept
    assert folder.name.startswith("abc-transformers-")
    assert json.loads((folder / "config.json").read_text()) == {"keys": []}
    assert dequantized.dense_folder(gguf, "abc", read) == folder and reads == [1]
    assert [p.name for p in kept.iterdir()] == [folder.name]  # no partial left, nor abandoned
    assert dequantized.dense_folder(gguf, "other-sha", read) != folder and reads == [1, 1]


def test_a_large_file_or_an_unwritable_cache_is_read_from_the_gguf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" * 10)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(dequantized, "MAX_GGUF_BYTES", 39)
    assert dequantized.dense_folder(gguf, "abc", lambda: pytest.fail("not read")) is None
    monkeypatch.setattr(dequantized, "MAX_GGUF_BYTES", 40)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # not a folder
    assert dequantized.dense_folder(gguf, "abc", lambda: (FakeModel(), FakeTokenizer())) is None
    assert "Could not keep a dequantized copy of m.gguf" in caplog.text


def test_the_bundled_base_loads_from_its_copy_with_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("transformers", reason="the train extra is not installed")
    from infernet.engine.launch import find_smollm2

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ref = basemodel.BaseModelRef("gguf", str(find_smollm2()))
    read = basemodel._read_gguf_model
    from_gguf: list[Any] = []

    def spied(*args: Any, **kwargs: Any) -> Any:
        from_gguf.append(read(*args, **kwargs))
        return from_gguf[-1]

    monkeypatch.setattr(basemodel, "_read_gguf_model", spied)
    first, second = basemodel.load_model(ref), basemodel.load_model(ref)
    assert len(from_gguf) == 1, "the GGUF is read once, for the copy"
    expected = from_gguf[0].state_dict()
    for model in (first, second):
        got = model.state_dict()
        assert got.keys() == expected.keys()
        assert all(got[k].equal(expected[k]) for k in expected)
        assert model.config._name_or_path == str(ref.path.parent)
    tokenizer = basemodel.load_tokenizer(ref)
    assert tokenizer("Hello world")["input_ids"] == [19556, 905]
    assert tokenizer.chat_template == basemodel._read_gguf_tokenizer(ref).chat_template
