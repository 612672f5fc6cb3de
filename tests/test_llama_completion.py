"""Llama.create_completion on the real model: determinism, streaming, stops, limits, logprobs."""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import pytest

import llama_cpp.llama_cpp as C
from llama_cpp import Llama, LogitsProcessorList, StoppingCriteriaList

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def llm(model_path: str) -> Iterator[Llama]:
    with Llama(model_path=model_path, n_ctx=1024, verbose=False) as model:
        yield model


def text_of(result) -> str:  # type: ignore[no-untyped-def]
    return result["choices"][0]["text"]


def stream_text(chunks) -> str:  # type: ignore[no-untyped-def]
    return "".join(c["choices"][0]["text"] for c in chunks)


def perf_evals(llm: Llama) -> int:
    data = C.llama_perf_context(llm.ctx)
    return data.n_p_eval + data.n_eval


def test_greedy_is_deterministic_and_sensible(llm: Llama) -> None:
    a = llm.create_completion(PROMPT, max_tokens=24, temperature=0)
    b = llm(PROMPT, max_tokens=24, temperature=0)
    assert text_of(a) == text_of(b)
    assert text_of(a).startswith(" Paris")
    assert a["object"] == "text_completion" and a["id"].startswith("cmpl-")
    assert a["choices"][0]["finish_reason"] == "length"
    assert a["usage"] == {"prompt_tokens": len(llm.tokenize(PROMPT.encode(), add_bos=False)),
                          "completion_tokens": 24, "total_tokens": a["usage"]["prompt_tokens"] + 24}


def test_seeded_sampling_is_reproducible(llm: Llama) -> None:
    kw = dict(max_tokens=24, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)
    a = text_of(llm.create_completion("Once upon a time", seed=7, **kw))
    b = text_of(llm.create_completion("Once upon a time", seed=7, **kw))
    outs = {text_of(llm.create_completion("Once upon a time", seed=s, **kw)) for s in range(1, 6)}
    assert a == b
    assert len(outs) >= 3  # different seeds really sample differently


def test_stream_concatenates_to_the_non_stream_text(llm: Llama) -> None:
    for prompt, kw in [
        (PROMPT, dict(max_tokens=40, temperature=0)),
        ("Write a list of fruits:\n1.", dict(max_tokens=48, temperature=0, stop=["4."])),
        ("Once upon a time", dict(max_tokens=40, temperature=0.9, seed=3)),
    ]:
        full = llm.create_completion(prompt, **kw)
        chunks = list(llm.create_completion(prompt, stream=True, **kw))
        assert stream_text(chunks) == text_of(full)
        assert chunks[-1]["choices"][0]["finish_reason"] == full["choices"][0]["finish_reason"]
        assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
        assert all("usage" not in c for c in chunks)


def test_stream_hands_out_each_token_before_decoding_the_next(llm: Llama) -> None:
    # a chunk is yielded as soon as its token is sampled: the context then holds the prompt plus the tokens
    # of the earlier chunks only, so a consumer never waits one extra decode for text it could already show
    prompt_tokens = llm.tokenize(PROMPT.encode(), add_bos=False)
    stream = llm.create_completion(prompt_tokens, max_tokens=8, temperature=0, stream=True)
    seen = 0
    try:
        for chunk in stream:
            if chunk["choices"][0]["finish_reason"] is not None:
                break
            seen += 1
            assert llm.n_tokens == len(prompt_tokens) + seen - 1
    finally:
        stream.close()  # type: ignore[attr-defined]
    assert seen > 0

def test_stop_string_across_a_token_boundary(llm: Llama) -> None:
    base = llm.create_completion(PROMPT, max_tokens=40, temperature=0)
    full = text_of(base)
    ids = llm.tokenize(PROMPT.encode(), add_bos=False)
    out = [t for t in llm.tokenize((PROMPT + full).encode(), add_bos=False)][len(ids):]
    pieces = [llm.detokenize([t]).decode() for t in out]
    # a stop string made of the end of one token and the start of the next
    i = next(k for k in range(3, len(pieces) - 1) if len(pieces[k]) >= 2 and len(pieces[k + 1]) >= 2)
    stop = pieces[i][-2:] + pieces[i + 1][:2]
    cut = full.index(stop)
    result = llm.create_completion(PROMPT, max_tokens=40, temperature=0, stop=[stop])
    assert text_of(result) == full[:cut]
    assert result["choices"][0]["finish_reason"] == "stop"
    chunks = [c["choices"][0]["text"] for c in llm.create_completion(PROMPT, max_tokens=40, temperature=0, stop=stop, stream=True)]
    assert "".join(chunks) == full[:cut]
    assert not any(stop in c for c in chunks)


def test_the_stop_string_that_appears_first_wins(llm: Llama) -> None:
    full = text_of(llm.create_completion(PROMPT, max_tokens=30, temperature=0))
    words = full.split()
    early, late = words[1], words[4]
    r = llm.create_completion(PROMPT, max_tokens=30, temperature=0, stop=[late, early])
    assert text_of(r) == full[: full.index(early)]


def test_max_tokens_zero_fills_the_context(model_path: str) -> None:
    with Llama(model_path=model_path, n_ctx=64, verbose=False) as small:
        eos = small.token_eos()
        prompt_len = len(small.tokenize(PROMPT.encode(), add_bos=False))
        n_ctx = small.n_ctx()  # llama.cpp rounds the requested size up
        assert 64 <= n_ctx <= 512
        r = small.create_completion(PROMPT, max_tokens=0, temperature=0, logit_bias={eos: -math.inf})
        assert r["usage"]["completion_tokens"] == n_ctx - prompt_len
        assert r["choices"][0]["finish_reason"] == "length"
        r = small.create_completion(PROMPT, max_tokens=10_000, temperature=0, logit_bias={eos: -math.inf})
        assert r["usage"]["completion_tokens"] == n_ctx - prompt_len


def test_prompt_longer_than_context_is_a_value_error(model_path: str) -> None:
    with Llama(model_path=model_path, n_ctx=32, verbose=False) as small:
        n_ctx = small.n_ctx()
        long_prompt = "word " * (n_ctx + 10)
        n = len(small.tokenize(long_prompt.encode(), add_bos=False))
        with pytest.raises(ValueError, match=rf"^Requested tokens \({n}\) exceed context window of {n_ctx}$"):
            small.create_completion(long_prompt)
        with pytest.raises(ValueError, match=f"exceed context window of {n_ctx}"):
            small.create_completion(long_prompt, stream=True)  # raised at the call, not on first next()


def test_a_prompt_extending_the_last_one_evaluates_only_new_tokens(llm: Llama) -> None:
    first = PROMPT + " Paris. The capital of Germany is"
    llm.create_completion(first, max_tokens=4, temperature=0)
    extra = " Berlin. The capital of Italy is"
    before = perf_evals(llm)
    llm.create_completion(first + extra, max_tokens=1, temperature=0)
    new_tokens = len(llm.tokenize((first + extra).encode(), add_bos=False)) - len(llm.tokenize(first.encode(), add_bos=False))
    assert perf_evals(llm) - before <= new_tokens + 1


def test_token_list_prompt_and_echo(llm: Llama) -> None:
    ids = llm.tokenize(PROMPT.encode(), add_bos=False)
    assert text_of(llm.create_completion(ids, max_tokens=8, temperature=0)) == text_of(
        llm.create_completion(PROMPT, max_tokens=8, temperature=0))
    echoed = llm.create_completion(PROMPT, max_tokens=8, temperature=0, echo=True)
    assert text_of(echoed).startswith(PROMPT + " Paris")
    with pytest.raises(TypeError):
        llm.create_completion(ids, echo=True)


def test_logprobs_agree_with_logits(model_path: str) -> None:
    with Llama(model_path=model_path, n_ctx=256, logits_all=True, verbose=False) as model:
        r = model.create_completion(PROMPT, max_tokens=6, temperature=0, logprobs=3)
        lp = r["choices"][0]["logprobs"]
        assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"]) == 6
        assert "".join(lp["tokens"]) == text_of(r)
        assert lp["text_offset"][0] == len(PROMPT)
        n_prompt = r["usage"]["prompt_tokens"]
        ids = model.tokenize((PROMPT + text_of(r)).encode(), add_bos=False)[n_prompt:]
        for i, tok in enumerate(ids[:6]):
            expected = Llama.logits_to_logprobs(model.scores[n_prompt + i - 1])[tok]
            assert lp["token_logprobs"][i] == pytest.approx(float(expected), abs=1e-4)
            top = lp["top_logprobs"][i]
            assert 3 <= len(top) <= 4 and max(top.values()) == pytest.approx(lp["token_logprobs"][i], abs=1e-4)  # greedy
        # streamed logprobs: one token per chunk
        chunks = [c for c in model.create_completion(PROMPT, max_tokens=6, temperature=0, logprobs=2, stream=True)
                  if c["choices"][0]["logprobs"]]
        assert [c["choices"][0]["logprobs"]["tokens"][0] for c in chunks] == lp["tokens"]
        echoed = model.create_completion(PROMPT, max_tokens=2, temperature=0, logprobs=1, echo=True)["choices"][0]["logprobs"]
        assert echoed["token_logprobs"][0] is None and len(echoed["tokens"]) == n_prompt + 2


def test_logprobs_without_logits_all(llm: Llama) -> None:
    r = llm.create_completion(PROMPT, max_tokens=3, temperature=0, logprobs=2)
    assert len(r["choices"][0]["logprobs"]["token_logprobs"]) == 3
    with pytest.raises(ValueError, match="logprobs is not supported for models created with logits_all=False"):
        llm.create_completion(PROMPT, max_tokens=3, logprobs=2, echo=True)


def test_logits_processor_and_stopping_criteria(llm: Llama) -> None:
    rot = llm.tokenize(b"rot", add_bos=False)

    def boost(input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        assert input_ids.dtype == np.intc and scores.dtype == np.single and scores.shape == (llm.n_vocab(),)
        scores[rot] += 1000
        return scores

    r = llm.create_completion("The", max_tokens=3, temperature=0, logits_processor=LogitsProcessorList([boost]))
    assert text_of(r).startswith("rot")
    seen = []

    def stop_after_three(input_ids: np.ndarray, logits: np.ndarray) -> bool:
        seen.append(len(input_ids))
        return len(seen) >= 3

    r = llm.create_completion(PROMPT, max_tokens=20, temperature=0, stopping_criteria=StoppingCriteriaList([stop_after_three]))
    assert r["choices"][0]["finish_reason"] == "stop"
    assert r["usage"]["completion_tokens"] == 2
    assert seen[1] == seen[0] + 1


def test_min_tokens_processor_forbids_early_eos(llm: Llama) -> None:
    from llama_cpp import MinTokensLogitsProcessor

    plain = llm.create_completion("Say yes.", max_tokens=64, temperature=0)
    n_plain = plain["usage"]["completion_tokens"]
    forced = llm.create_completion("Say yes.", max_tokens=64, temperature=0,
                                   logits_processor=LogitsProcessorList([MinTokensLogitsProcessor(n_plain + 5, llm.token_eos())]))
    assert forced["usage"]["completion_tokens"] >= min(n_plain + 5, 64)


def test_sampling_parameters_change_the_output(llm: Llama) -> None:
    base = dict(max_tokens=32, temperature=0.0)
    greedy = text_of(llm.create_completion("List animals: cat, dog,", **base))
    penalised = text_of(llm.create_completion("List animals: cat, dog,", repeat_penalty=1.8, frequency_penalty=0.5, **base))
    assert greedy != penalised
    for mode in (1, 2):
        r = llm.create_completion("Once upon a time", max_tokens=8, temperature=0.8, mirostat_mode=mode, seed=1)
        assert r["usage"]["completion_tokens"] > 0
    banned = llm.tokenize(b" Paris", add_bos=False)[0]
    r = llm.create_completion(PROMPT, max_tokens=4, temperature=0, logit_bias={banned: -100.0})
    assert not text_of(r).startswith(" Paris")


def test_generate_send_and_sample(llm: Llama) -> None:
    tokens = llm.tokenize(PROMPT.encode(), add_bos=False)
    gen = llm.generate(tokens, temp=0)
    out = [next(gen) for _ in range(3)]
    gen.close()
    assert llm.n_tokens == len(tokens) + 2
    llm.reset()
    llm.eval(tokens)
    assert llm.sample(temp=0) == out[0]


def test_repeating_a_one_token_prompt_gives_the_same_answer(model_path: str) -> None:
    # a one-token prompt takes the one-token fast path, where llama.cpp places the token after the sequence's
    # last KV cell: a reset that left the old cells behind shifted every later position
    with Llama(model_path=model_path, n_ctx=256, verbose=False) as llm:
        assert len(llm.tokenize(b"Hi")) == 1
        answers = {llm.create_completion("Hi", max_tokens=8, temperature=0)["choices"][0]["text"] for _ in range(3)}
    assert len(answers) == 1
