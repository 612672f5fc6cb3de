"""The main things a user does, each in a fresh interpreter.

An import made by one test module (``llama_chat_format``, say) changes what
every later test sees in the same process, and once hid a bug that every real
user hit: ``chat_format="chatml"`` failed in a fresh process because nothing
had registered the built-in formats yet. Each test here starts from
``python -c`` with nothing imported, as a user's script does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import run_python


def run_json(code: str, model_path: str) -> dict:
    """Run ``code`` (which prints one JSON line last) in a fresh interpreter with ``MODEL`` set."""
    r = run_python(f"MODEL = {model_path!r}\n" + textwrap.dedent(code))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_chat_with_a_named_chat_format(model_path: str) -> None:
    out = run_json(
        """
        import json
        from llama_cpp import Llama
        llm = Llama(model_path=MODEL, chat_format="chatml", verbose=False)
        r = llm.create_chat_completion(
            messages=[{"role": "user", "content": "What is the capital of France? One word."}],
            max_tokens=8, temperature=0)
        print(json.dumps({"content": r["choices"][0]["message"]["content"], "format": llm.chat_format}))
        """,
        model_path,
    )
    assert out["format"] == "chatml"
    assert "Paris" in out["content"]


def test_chat_with_every_builtin_format_name_available(model_path: str) -> None:
    out = run_json(
        """
        import json
        from llama_cpp import Llama
        llm = Llama(model_path=MODEL, chat_format="llama-2", verbose=False)
        r = llm.create_chat_completion(messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0)
        from llama_cpp.llama_chat_format import LlamaChatCompletionHandlerRegistry
        print(json.dumps({"finish": r["choices"][0]["finish_reason"],
                          "names": LlamaChatCompletionHandlerRegistry().names()}))
        """,
        model_path,
    )
    assert out["finish"] in ("stop", "length")
    assert {"chatml", "llama-2", "llama-3", "mistral-instruct", "functionary-v2", "chatml-function-calling"} <= set(out["names"])


def test_chat_with_the_gguf_template(model_path: str) -> None:
    out = run_json(
        """
        import json
        from llama_cpp import Llama
        llm = Llama(model_path=MODEL, verbose=False)
        r = llm.create_chat_completion(
            messages=[{"role": "user", "content": "What is the capital of France? One word."}],
            max_tokens=8, temperature=0)
        print(json.dumps({"content": r["choices"][0]["message"]["content"]}))
        """,
        model_path,
    )
    assert "Paris" in out["content"]


def test_unknown_chat_format_is_a_value_error_naming_the_choices(model_path: str) -> None:
    out = run_json(
        """
        import json
        from llama_cpp import Llama
        llm = Llama(model_path=MODEL, chat_format="no-such-format", verbose=False)
        try:
            llm.create_chat_completion(messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
        except ValueError as e:
            print(json.dumps({"type": type(e).__name__, "message": str(e)}))
        """,
        model_path,
    )
    assert out["type"] == "LlamaChatCompletionHandlerNotFoundException"
    assert "no-such-format" in out["message"] and "chatml" in out["message"]


def test_completion(model_path: str) -> None:
    out = run_json(
        """
        import json
        from llama_cpp import Llama
        llm = Llama(model_path=MODEL, verbose=False)
        r = llm("The capital of France is", max_tokens=4, temperature=0)
        print(json.dumps({"text": r["choices"][0]["text"], "usage": r["usage"]}))
        """,
        model_path,
    )
    assert out["text"].startswith(" Paris")
    assert out["usage"]["completion_tokens"] == 4


def test_embeddings(model_path: str) -> None:
    out = run_json(
        """
        import json
        from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama
        llm = Llama(model_path=MODEL, embedding=True, pooling_type=LLAMA_POOLING_TYPE_MEAN, verbose=False)
        r = llm.create_embedding(["hello world", "goodbye"])
        print(json.dumps({"n": len(r["data"]), "dim": len(r["data"][0]["embedding"]), "index": r["data"][1]["index"]}))
        """,
        model_path,
    )
    assert out == {"n": 2, "dim": 576, "index": 1}


def test_cache_hit_restores_through_public_load_state(model_path: str) -> None:
    out = run_json(
        """
        import json
        from llama_cpp import Llama, LlamaRAMCache

        class Counting(Llama):
            loads = 0
            def load_state(self, state):
                Counting.loads += 1
                return super().load_state(state)

        llm = Counting(model_path=MODEL, verbose=False)
        llm.set_cache(LlamaRAMCache())
        prompt = "The capital of France is"
        first = llm(prompt, max_tokens=4, temperature=0)["choices"][0]["text"]
        llm.reset()
        llm("Something else entirely, to move the context away", max_tokens=2, temperature=0)
        before = Counting.loads
        second = llm(prompt, max_tokens=4, temperature=0)["choices"][0]["text"]
        print(json.dumps({"before": before, "after": Counting.loads, "same": first == second}))
        """,
        model_path,
    )
    assert out["same"]
    assert out["after"] == out["before"] + 1  # exactly one restore for the hit


def test_cli_chat_with_a_chat_format(model_path: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "llama_cpp", "chat", "What is the capital of France? One word.",
         "--chat-format", "chatml", "-n", "8", "-t", "0", "--model", model_path],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )
    assert r.returncode == 0, r.stderr
    assert "Paris" in r.stdout
