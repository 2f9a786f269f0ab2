"""`infernet publish` (Book §9.5): merge, GGUF, quantize, Modelfile, Hub upload and
`ollama create` + `push`; the Hub and Ollama are stand-ins written from their API docs, the
GGUFs are loaded by the real llama.cpp engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from infernet.train.modelfile import CHATML_TEMPLATE
from tests.fakes import hf_hub, ollama
from tests.fakes.server import serve
from tests.train.conftest import infernet

pytestmark = pytest.mark.timeout(900)  # a real fine-tune on the CPU

SYSTEM = "You are a helpful assistant."  # the system line of the test data


@pytest.fixture(scope="module")
def published(trained_run: Path) -> Iterator[tuple[Path, str, hf_hub.HubState, ollama.OllamaState]]:
    hub, engine = hf_hub.HubState(), ollama.OllamaState()
    with serve(hf_hub.create_app(hub)) as hub_url, serve(ollama.create_app(engine)) as ollama_url:
        env = {
            "HF_ENDPOINT": hub_url,
            "HF_HUB_DISABLE_XET": "1",  # the stand-in speaks the LFS protocol, not Xet
            "HUGGINGFACE_TOKEN": hub.token,
            "OLLAMA_HOST": ollama_url,
        }
        done = infernet("publish", str(trained_run), "--ollama-model", "tester/zorb", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        yield trained_run / "publish", done.stdout, hub, engine


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_writes_f16_and_q4_k_m_gguf_and_says_how_it_quantized(
    published: tuple[Path, str, hf_hub.HubState, ollama.OllamaState],
) -> None:
    folder, stdout, _, _ = published
    assert (folder / "run.f16.gguf").is_file()
    q4 = folder / "run.q4_k_m.gguf"
    assert q4.stat().st_size < (folder / "run.f16.gguf").stat().st_size / 2
    from infernet.train.quantize import tensor_types

    types = tensor_types(q4)
    assert types.get("Q4_K", 0) > 0  # real k-quants where the rows allow them
    # SmolLM2-135M rows are 576 wide, not a multiple of 256: llama.cpp falls back there,
    # and the summary shows the mix rather than claiming all-q4_k_m.
    assert "Q4_K" in stdout and "Q5_0" in stdout


def test_modelfile_is_chatml_with_the_book_parameters(
    published: tuple[Path, str, hf_hub.HubState, ollama.OllamaState],
) -> None:
    text = (published[0] / "Modelfile").read_text()
    assert text.startswith("FROM ./run.q4_k_m.gguf\n")
    assert f'TEMPLATE """{CHATML_TEMPLATE}"""' in text
    assert "PARAMETER temperature 0.7" in text and "PARAMETER top_p 0.9" in text
    assert 'PARAMETER stop "<|im_end|>"' in text


def test_uploads_to_the_hub(
    published: tuple[Path, str, hf_hub.HubState, ollama.OllamaState],
) -> None:
    folder, stdout, hub, _ = published
    files = hub.repos["tester/run"]
    assert hashlib.sha256(files["run.q4_k_m.gguf"]).hexdigest() == _sha(folder / "run.q4_k_m.gguf")
    assert {"Modelfile", "README.md", "adapter/adapter_model.safetensors"} <= set(files)
    assert files["README.md"].startswith(b"---\nlibrary_name: peft")
    assert "run.f16.gguf" not in files
    assert "Hugging Face: tester/run" in stdout


def test_creates_and_pushes_in_ollama(
    published: tuple[Path, str, hf_hub.HubState, ollama.OllamaState],
) -> None:
    folder, _, _, engine = published
    digest = f"sha256:{_sha(folder / 'run.q4_k_m.gguf')}"
    assert digest in engine.blobs
    body = engine.created["tester/zorb:latest"]
    assert body["files"] == {"run.q4_k_m.gguf": digest}
    assert body["template"] == CHATML_TEMPLATE
    assert body["parameters"]["temperature"] == 0.7 and body["parameters"]["top_p"] == 0.9
    assert engine.pushed == ["tester/zorb:latest"]


def _answer(gguf: Path, prompt: str) -> str:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=512, verbose=False, seed=0)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    reply = llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=48)
    return str(reply["choices"][0]["message"]["content"])


def test_llama_cpp_serves_the_fine_tune_not_the_base(
    published: tuple[Path, str, hf_hub.HubState, ollama.OllamaState], trained_run: Path
) -> None:
    pytest.importorskip("llama_cpp", reason="the llamacpp extra is not installed")
    from infernet.engine.launch import find_smollm2

    readme = (trained_run / "README.md").read_text()
    prompt = readme.split("answered greedily:")[1].split("Base model:")[0].strip()[2:]
    torch_tuned = readme.split("Fine-tuned:")[1].split("## Next")[0].strip()[2:]
    f16 = _answer(published[0] / "run.f16.gguf", prompt)
    # The F16 file is the merged model itself: llama.cpp continues it as PyTorch did.
    assert f16[:40] == torch_tuned[:40]
    assert f16 != _answer(find_smollm2(), prompt)
    assert _answer(published[0] / "run.q4_k_m.gguf", prompt).strip()


def test_modelfile_only_writes_just_the_modelfile(tmp_path: Path, trained_run: Path) -> None:
    done = infernet("publish", str(trained_run), "--modelfile-only", "--quant", "q8_0")
    assert done.returncode == 0, done.stderr
    assert (trained_run / "publish" / "Modelfile").read_text().startswith("FROM ./run.q8_0.gguf")
    assert not (trained_run / "publish" / "run.q8_0.gguf").exists()
    assert "does not exist yet" in done.stdout


def test_missing_token_or_ollama_fail_before_converting(trained_run: Path) -> None:
    no_token = infernet("publish", str(trained_run), env={"HUGGINGFACE_TOKEN": ""})
    assert no_token.returncode == 3
    assert "HUGGINGFACE_TOKEN" in no_token.stderr and "--skip-hf" in no_token.stderr
    no_ollama = infernet(
        "publish", str(trained_run), "--skip-hf", env={"OLLAMA_HOST": "http://127.0.0.1:9"}
    )
    assert no_ollama.returncode == 1
    assert "--skip-ollama" in no_ollama.stderr
    assert "Merging" not in no_ollama.stdout


def test_unknown_quant_is_bad_usage(trained_run: Path) -> None:
    done = infernet("publish", str(trained_run), "--quant", "q4_k_x")
    assert done.returncode == 2
    assert "q4_k_m" in done.stderr
