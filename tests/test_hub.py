"""Llama.from_pretrained against a local server that speaks the Hub's file API."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hub_server import HubServer

from conftest import run_python

TESTS = Path(__file__).resolve().parent


@pytest.fixture()
def hub(tmp_path: Path, model_path: str):  # type: ignore[no-untyped-def]
    root = tmp_path / "hub"
    repo = root / "acme" / "smol-GGUF"
    (repo / "sub").mkdir(parents=True)
    os.link(model_path, repo / "smol-Q4_1.gguf") if os.stat(model_path).st_dev == os.stat(tmp_path).st_dev else shutil.copy(model_path, repo / "smol-Q4_1.gguf")
    (repo / "sub" / "smol-Q8_0.gguf").write_bytes(b"not really a model")
    (repo / "README.md").write_text("# smol\n")
    (repo / "tokenizer.json").write_text("{}")
    split = root / "acme" / "split-GGUF"
    split.mkdir(parents=True)
    for i in (1, 2, 3):
        (split / f"big-0000{i}-of-00003.gguf").write_bytes(b"part %d" % i)
    with HubServer(root) as server:
        yield server, tmp_path


def _run(server: HubServer, tmp_path: Path, code: str):  # type: ignore[no-untyped-def]
    env = {"HF_ENDPOINT": server.url, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HUB_ETAG_TIMEOUT": "5",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    env.pop("HF_HUB_OFFLINE", None)
    return run_python(code, env={**env, "HF_HUB_OFFLINE": "0"})


def test_glob_download_and_load(hub) -> None:  # type: ignore[no-untyped-def]
    server, tmp_path = hub
    r = _run(server, tmp_path, """
        from llama_cpp import Llama
        llm = Llama.from_pretrained("acme/smol-GGUF", filename="*Q4_1.gguf", additional_files=["tokenizer.json"],
                                    n_ctx=128, verbose=False)
        text = llm.create_completion("The capital of France is", max_tokens=3, temperature=0)["choices"][0]["text"]
        import json, os
        print(json.dumps([llm.model_path, text, sorted(os.listdir(os.path.dirname(llm.model_path)))]))
        """)
    assert r.returncode == 0, r.stderr[-3000:]
    path, text, listing = json.loads(r.stdout.strip().splitlines()[-1])
    assert path.endswith("smol-Q4_1.gguf") and str(tmp_path / "hf-home") in path
    assert text.startswith(" Paris")
    assert "tokenizer.json" in listing
    assert any(req.startswith("GET /acme/smol-GGUF/resolve/") for req in server.requests)


def test_local_dir_keeps_sub_folders(hub) -> None:  # type: ignore[no-untyped-def]
    server, tmp_path = hub
    r = _run(server, tmp_path, f"""
        from llama_cpp.llama import Llama
        try:
            Llama.from_pretrained("acme/smol-GGUF", filename="sub/*Q8_0.gguf", local_dir={str(tmp_path / "local")!r}, verbose=False)
        except ValueError as e:
            print(type(e).__name__, str(e).split(":")[0])
        """)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "local" / "sub" / "smol-Q8_0.gguf").read_bytes() == b"not really a model"
    assert r.stdout.strip() == "ValueError Failed to load model from file"


def test_split_models_download_every_part(hub) -> None:  # type: ignore[no-untyped-def]
    server, tmp_path = hub
    r = _run(server, tmp_path, """
        from llama_cpp._hub import download_model
        import os
        p = download_model("acme/split-GGUF", "big-*.gguf")
        print(os.path.basename(p)); print(sorted(os.listdir(os.path.dirname(p))))
        """)
    assert r.returncode == 0, r.stderr[-3000:]
    first, listing = r.stdout.strip().splitlines()
    assert first == "big-00001-of-00003.gguf"
    assert listing.count("-of-00003.gguf") == 3


def test_no_match_and_several_matches_are_value_errors(hub) -> None:  # type: ignore[no-untyped-def]
    server, tmp_path = hub
    r = _run(server, tmp_path, """
        from llama_cpp import Llama
        for pattern in ("*Q2_K.gguf", "*.gguf"):
            try:
                Llama.from_pretrained("acme/smol-GGUF", filename=pattern, verbose=False)
            except ValueError as e:
                print(str(e).splitlines()[0])
        """)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines() == [
        "No file found in acme/smol-GGUF that match *Q2_K.gguf",
        "Multiple files found in acme/smol-GGUF matching *.gguf",
    ]


def test_missing_huggingface_hub_is_a_clear_import_error(tmp_path: Path) -> None:
    r = run_python("""
        import sys
        sys.modules["huggingface_hub"] = None
        from llama_cpp import Llama
        try:
            Llama.from_pretrained("acme/smol-GGUF", filename="*.gguf")
        except ImportError as e:
            print(e)
        """)
    assert r.returncode == 0, r.stderr
    assert "pip install 'llama-cpp[hub]'" in r.stdout
