"""Threads, leaks, and bad input: clear Python exceptions, never a crash or a hang."""

from __future__ import annotations

import gc
import threading
import warnings
from pathlib import Path
from typing import Iterator

import pytest

from conftest import run_python
from llama_cpp import Llama

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def llm(model_path: str) -> Iterator[Llama]:
    with Llama(model_path=model_path, n_ctx=512, verbose=False) as model:
        yield model


def test_eight_threads_share_one_instance(llm: Llama) -> None:
    prompts = [f"{PROMPT}", "Once upon a time", "1, 2, 3,", "Hello, my name is"]
    expected = {p: llm.create_completion(p, max_tokens=12, temperature=0)["choices"][0]["text"] for p in prompts}
    results: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for k in range(3):
                p = prompts[(i + k) % len(prompts)]
                if k == 1:
                    text = "".join(c["choices"][0]["text"] for c in llm.create_completion(p, max_tokens=12, temperature=0, stream=True))
                else:
                    text = llm.create_completion(p, max_tokens=12, temperature=0)["choices"][0]["text"]
                results.append((p, text))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    assert len(results) == 24
    assert all(text == expected[p] for p, text in results)


def test_separate_instances_run_in_parallel(model_path: str) -> None:
    models = [Llama(model_path=model_path, n_ctx=128, n_threads=1, verbose=False) for _ in range(2)]
    out: dict[int, str] = {}

    def run(i: int) -> None:
        out[i] = models[i].create_completion(PROMPT, max_tokens=16, temperature=0)["choices"][0]["text"]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for m in models:
        m.close()
    assert out[0] == out[1] and out[0].startswith(" Paris")


def test_an_open_stream_in_the_same_thread_is_an_error_not_a_hang(llm: Llama) -> None:
    stream = llm.create_completion(PROMPT, max_tokens=8, temperature=0, stream=True)
    next(iter(stream))
    with pytest.raises(RuntimeError, match="unfinished stream"):
        llm.create_completion(PROMPT, max_tokens=2)
    stream.close()  # type: ignore[attr-defined]
    assert llm.create_completion(PROMPT, max_tokens=2, temperature=0)["choices"][0]["text"]


def test_a_stream_can_be_finished_in_another_thread(llm: Llama) -> None:
    stream = llm.create_completion(PROMPT, max_tokens=8, temperature=0, stream=True)
    parts: list[str] = []
    t = threading.Thread(target=lambda: parts.extend(c["choices"][0]["text"] for c in stream))
    t.start()
    t.join(timeout=60)
    assert not t.is_alive() and "".join(parts).startswith(" Paris")
    assert llm.create_completion(PROMPT, max_tokens=2, temperature=0)


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def test_creating_and_closing_50_instances_does_not_leak(model_path: str) -> None:
    def cycle() -> None:
        with Llama(model_path=model_path, n_ctx=128, verbose=False) as m:
            m.create_completion("Hi", max_tokens=2, temperature=0)

    for _ in range(5):
        cycle()
    gc.collect()
    start = _rss_kib()
    for _ in range(50):
        cycle()
    gc.collect()
    growth_mib = (_rss_kib() - start) / 1024
    assert growth_mib < 40, f"RSS grew {growth_mib:.1f} MiB over 50 instances"


def test_garbage_collected_instances_free_themselves(model_path: str) -> None:
    r = run_python(
        f"""
        import gc
        from llama_cpp import Llama
        for _ in range(3):
            m = Llama(model_path={model_path!r}, n_ctx=64, verbose=False)
            m.create_completion("Hi", max_tokens=1)
            del m
            gc.collect()
        keep = Llama(model_path={model_path!r}, n_ctx=64, verbose=False)  # left for interpreter exit
        print("ok")
        """
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(prompt=123), TypeError, "prompt must be a str or a list of token ids"),
        (dict(prompt=[1, 2, 10**9]), ValueError, "is not a token id of this model"),
        (dict(prompt=PROMPT, stop=5), TypeError, "stop must be a string or a list of strings"),
        (dict(prompt=PROMPT, stop=["ok", 3]), TypeError, "stop strings must be str"),
        (dict(prompt=PROMPT, temperature="hot"), TypeError, "temperature must be a number"),
        (dict(prompt=PROMPT, top_k=2.5), TypeError, "top_k must be an integer"),
        (dict(prompt=PROMPT, max_tokens="10"), TypeError, "max_tokens must be an int or None"),
        (dict(prompt=PROMPT, seed="x"), TypeError, "seed must be an int"),
        (dict(prompt=PROMPT, logprobs=-1), ValueError, "logprobs must be a non-negative int"),
        (dict(prompt=PROMPT, logit_bias=[1, 2]), TypeError, "logit_bias must be a dict"),
        (dict(prompt=PROMPT, logit_bias={10**9: 1.0}), ValueError, "outside the vocabulary"),
        (dict(prompt=PROMPT, grammar="root ::= \"a\""), TypeError, "grammar must be a LlamaGrammar"),
        (dict(prompt=PROMPT, suffix="x"), ValueError, "fill-in-the-middle"),
    ],
)
def test_bad_arguments_raise_clear_errors(llm: Llama, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        llm.create_completion(**{"max_tokens": 4, **kwargs})
    # the instance is still usable
    assert llm.create_completion(PROMPT, max_tokens=2, temperature=0)["choices"][0]["text"]


def test_bad_constructor_arguments(model_path: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="^Model path does not exist: /nope.gguf$"):
        Llama(model_path="/nope.gguf", verbose=False)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ValueError, match="^Failed to load model from file: "):
        Llama(model_path=str(bad), verbose=False)
    with pytest.raises(ValueError, match="Attempt to split tensors that exceed maximum supported devices"):
        Llama(model_path=model_path, tensor_split=[1.0] * 1000, verbose=False)
    with pytest.raises(ValueError, match="Unknown value type for general.name"):
        Llama(model_path=model_path, kv_overrides={"general.name": [1]}, verbose=False)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="is too long"):
        Llama(model_path=model_path, kv_overrides={"general.name": "x" * 200}, verbose=False)
    with pytest.warns(UserWarning, match="ignores unknown keyword arguments: n_gpu_layer"):
        Llama(model_path=model_path, n_ctx=64, n_gpu_layer=3, verbose=False).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Llama(model_path=model_path, n_ctx=64, rpc_servers=None, verbose=False).close()


def test_kv_overrides_reach_the_model(model_path: str) -> None:
    with Llama(model_path=model_path, n_ctx=64, verbose=False) as plain:
        assert plain.metadata["tokenizer.ggml.add_bos_token"] == "false" and not plain._model.add_bos_token()
        assert plain.tokenize(b"Hi")[0] != plain.token_bos()
    with Llama(model_path=model_path, n_ctx=64, kv_overrides={"tokenizer.ggml.add_bos_token": True}, verbose=False) as m:
        assert m._model.add_bos_token()
        assert m.tokenize(b"Hi")[0] == m.token_bos()


def test_tokenize_needs_bytes(llm: Llama) -> None:
    with pytest.raises(TypeError, match="tokenize\\(\\) takes bytes"):
        llm.tokenize("text")  # type: ignore[arg-type]


def test_verbose_shows_the_native_log_and_quiet_hides_it(model_path: str) -> None:
    code = f"from llama_cpp import Llama\nLlama(model_path={model_path!r}, n_ctx=64, verbose=%s).close()\nprint('done')"
    loud = run_python(code % "True")
    quiet = run_python(code % "False")
    assert loud.returncode == quiet.returncode == 0
    assert "llama_model_loader" in loud.stderr
    assert quiet.stderr == "" and quiet.stdout.strip() == "done"
