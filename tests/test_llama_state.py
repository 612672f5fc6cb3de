"""State save/load, prompt caches (RAM and disk), pickling, lifecycle."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Iterator

import pytest

import llama_cpp.llama_cpp as C
from llama_cpp import Llama, LlamaDiskCache, LlamaRAMCache, LlamaState

PROMPT = "Here is a short story about a robot who learns to paint. Once upon a time"


@pytest.fixture(scope="module")
def llm(model_path: str) -> Iterator[Llama]:
    with Llama(model_path=model_path, n_ctx=512, verbose=False) as model:
        yield model


def evals(llm: Llama) -> int:
    data = C.llama_perf_context(llm.ctx)
    return data.n_p_eval + data.n_eval


def test_save_and_load_state_resume_identically(llm: Llama) -> None:
    tokens = llm.tokenize(PROMPT.encode(), add_bos=False)
    llm.reset()
    llm.eval(tokens)
    state = llm.save_state()
    assert state.n_tokens == len(tokens) and state.llama_state_size == len(state.llama_state) > 0
    gen = llm.generate(tokens, temp=0)  # the exact evaluated prompt: sampled without re-evaluation
    first = [next(gen) for _ in range(8)]
    gen.close()
    assert llm.n_tokens == len(tokens) + 7
    llm.load_state(state)
    assert llm.n_tokens == len(tokens)
    assert list(llm.input_ids[: llm.n_tokens]) == tokens
    gen = llm.generate(tokens, temp=0)
    again = [next(gen) for _ in range(8)]
    gen.close()
    assert again == first
    # states survive pickling (the disk cache stores them that way)
    clone = pickle.loads(pickle.dumps(state))
    assert isinstance(clone, LlamaState) and clone.llama_state == state.llama_state and clone.seed == state.seed


def test_seeded_state_restores_the_random_stream(llm: Llama) -> None:
    llm.set_seed(1337)
    state = llm.save_state()
    kw = dict(max_tokens=12, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)
    a = llm.create_completion("Pick a number:", **kw)["choices"][0]["text"]
    b = llm.create_completion("Pick a number:", **kw)["choices"][0]["text"]
    llm.load_state(state)
    c = llm.create_completion("Pick a number:", **kw)["choices"][0]["text"]
    assert a != b and c == a


@pytest.mark.parametrize("kind", ["ram", "disk"])
def test_prompt_cache_hit_evaluates_fewer_tokens(model_path: str, tmp_path: Path, kind: str) -> None:
    cache = LlamaRAMCache(capacity_bytes=1 << 30) if kind == "ram" else LlamaDiskCache(cache_dir=str(tmp_path / "cache"))
    with Llama(model_path=model_path, n_ctx=512, verbose=False) as writer:
        writer.set_cache(cache)
        fresh = writer.create_completion(PROMPT, max_tokens=6, temperature=0)
        prompt_tokens = writer.tokenize(PROMPT.encode(), add_bos=False)
    n_prompt = fresh["usage"]["prompt_tokens"]
    assert cache.cache_size > 0
    assert prompt_tokens in cache
    with Llama(model_path=model_path, n_ctx=512, verbose=False) as reader:
        reader.set_cache(cache)
        loads = []
        original = reader.load_state  # cache hits restore through the public method, once each
        reader.load_state = lambda s: (loads.append(1), original(s))[1]  # type: ignore[method-assign]
        before = evals(reader)
        hit = reader.create_completion(PROMPT, max_tokens=6, temperature=0)
        assert len(loads) == 1
        assert evals(reader) - before < n_prompt  # the prompt was not evaluated again
        assert hit["choices"][0]["text"] == fresh["choices"][0]["text"]
        assert hit["usage"]["completion_tokens"] == fresh["usage"]["completion_tokens"]


def test_ram_cache_prefix_lookup_and_eviction() -> None:
    import numpy as np

    def state(size: int) -> LlamaState:
        return LlamaState(np.zeros(4, np.intc), np.zeros((1, 1), np.single), 0, b"x" * size, size, 0)

    cache = LlamaRAMCache(capacity_bytes=100)
    cache[(1, 2, 3)] = state(40)
    cache[(1, 2, 9, 9)] = state(40)
    assert cache[(1, 2, 3, 4)] is cache.cache_state[(1, 2, 3)]
    assert (7,) not in cache
    with pytest.raises(KeyError):
        cache[(7, 7)]
    cache[(5,)] = state(40)  # evicts the least recently used entry
    assert cache.cache_size <= 100 and len(cache.cache_state) == 2


def test_close_is_idempotent_and_use_after_close_is_an_error(model_path: str) -> None:
    llm = Llama(model_path=model_path, n_ctx=64, verbose=False)
    llm.close()
    llm.close()
    with pytest.raises(RuntimeError, match="closed"):
        llm.create_completion("hi")
    with Llama(model_path=model_path, n_ctx=64, verbose=False) as ctx_llm:
        assert ctx_llm.n_ctx() >= 64
    assert ctx_llm.ctx is None


def test_pickling_a_llama_reloads_it(model_path: str) -> None:
    with Llama(model_path=model_path, n_ctx=128, seed=5, verbose=False) as a:
        b = pickle.loads(pickle.dumps(a))
        try:
            assert b.model_path == a.model_path and b.context_params.n_ctx == a.context_params.n_ctx
            assert b.create_completion("Hi", max_tokens=4, temperature=0) ["choices"][0]["text"] == \
                a.create_completion("Hi", max_tokens=4, temperature=0)["choices"][0]["text"]
        finally:
            b.close()
