"""Bad input gives Python exceptions, never a crash of the interpreter.

The risky cases run in a fresh interpreter; each asserts that the child exited
normally after catching the expected exception.
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import run_python

LOAD = """
import sys
from llama_cpp._internals import LlamaModel
import llama_cpp.llama_cpp as C
try:
    LlamaModel(path_model=sys.argv[1] if len(sys.argv) > 1 else {path!r}, params=C.llama_model_default_params(), verbose=False)
except Exception as e:
    print(type(e).__name__ + ": " + str(e))
else:
    print("loaded")
"""


def _load(path: str) -> str:
    r = run_python(LOAD.format(path=path))
    assert r.returncode == 0, f"interpreter died ({r.returncode}): {r.stderr[-2000:]}"
    return r.stdout.strip()


def test_wrong_path() -> None:
    assert _load("/no/such/model.gguf") == "ValueError: Model path does not exist: /no/such/model.gguf"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert _load(str(tmp_path)).startswith("ValueError: Model path is a directory")


def test_truncated_gguf(tmp_path: Path, model_path: str) -> None:
    for size in (3, 24, 4096, 1 << 20):
        bad = tmp_path / f"truncated-{size}.gguf"
        with open(model_path, "rb") as src:
            bad.write_bytes(src.read(size))
        assert _load(str(bad)) == f"ValueError: Failed to load model from file: {bad}"


def test_random_bytes_and_empty_file(tmp_path: Path) -> None:
    rnd = tmp_path / "random.gguf"
    rnd.write_bytes(os.urandom(1 << 16))
    assert _load(str(rnd)) == f"ValueError: Failed to load model from file: {rnd}"
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    assert _load(str(empty)) == f"ValueError: Failed to load model from file: {empty}"


def test_gguf_header_with_garbage_metadata(tmp_path: Path) -> None:
    bad = tmp_path / "garbage-kv.gguf"
    # valid magic and version, absurd tensor and KV counts
    bad.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (2**62).to_bytes(8, "little") + (2**62).to_bytes(8, "little") + os.urandom(256))
    assert _load(str(bad)) == f"ValueError: Failed to load model from file: {bad}"


def test_missing_library_is_a_clear_exception(tmp_path: Path) -> None:
    r = run_python(
        """
        try:
            import llama_cpp
        except FileNotFoundError as e:
            print(type(e).__name__, "|", e)
        """,
        env={"LLAMA_CPP_LIB_PATH": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    name, _, message = r.stdout.partition(" | ")
    assert name == "LibraryNotFoundError"
    assert str(tmp_path) in message and "LLAMA_CPP_LIB_PATH" in message


def test_unloadable_library_is_a_clear_exception(tmp_path: Path) -> None:
    (tmp_path / "libllama.so").write_bytes(b"not an ELF file")
    r = run_python(
        """
        try:
            import llama_cpp
        except RuntimeError as e:
            print(type(e).__name__, "|", e)
        """,
        env={"LLAMA_CPP_LIB_PATH": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("LibraryLoadError | could not load")


def test_errors_share_a_base_and_the_builtins_callers_catch(model_path: str) -> None:
    import pytest

    from llama_cpp import ContextOverflowError, Llama, LlamaClosedError, LlamaDecodeError, LlamaError
    from llama_cpp._errors import decode_error
    from llama_cpp.llama_chat_format import LlamaChatCompletionHandlerNotFoundException

    assert issubclass(ContextOverflowError, ValueError) and issubclass(ContextOverflowError, LlamaError)
    assert issubclass(LlamaChatCompletionHandlerNotFoundException, ValueError)
    assert issubclass(LlamaChatCompletionHandlerNotFoundException, LlamaError)
    assert issubclass(LlamaClosedError, RuntimeError) and issubclass(LlamaDecodeError, RuntimeError)
    full = decode_error(1, 8)
    assert full.code == 1 and "context is full" in str(full) and "n_ctx" in str(full)
    assert "aborted" in str(decode_error(2, 8)) and "invalid" in str(decode_error(-1, 8))
    llm = Llama(model_path=model_path, n_ctx=64, verbose=False)
    with pytest.raises(ContextOverflowError, match=f"exceed context window of {llm.n_ctx()}"):
        llm.create_completion("word " * (llm.n_ctx() + 10), max_tokens=1)
    llm.close()
    with pytest.raises(LlamaClosedError, match="closed"):
        llm.create_completion("Hi", max_tokens=1)
