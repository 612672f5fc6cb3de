"""Many sequences at once: lists of prompts, ``n`` and ``best_of``, concurrent callers, cancellation.

llama.cpp's CPU kernels are not bit-identical across batch shapes, so a
batched greedy answer can differ from a single one where two tokens are
nearly tied. The prompts and lengths here were chosen without near-ties, so
batched and one-at-a-time answers are compared exactly.
"""

from __future__ import annotations

import threading

import pytest

from llama_cpp import Llama
from llama_cpp import llama_cpp as C

PROMPTS = [
    "The capital of France is",
    "Water boils at a temperature of",
    "The largest planet in the solar system is",
]
MAX = 8


@pytest.fixture(scope="module")
def single(model_path: str) -> Llama:
    llm = Llama(model_path=model_path, n_ctx=512, verbose=False)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def multi(model_path: str) -> Llama:
    llm = Llama(model_path=model_path, n_ctx=1024, n_seq_max=4, verbose=False)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def expected(single: Llama) -> list[str]:
    return [single(p, max_tokens=MAX, temperature=0)["choices"][0]["text"] for p in PROMPTS]


def cells_of(llm: Llama, seq_id: int) -> int:
    """The highest KV position ``seq_id`` holds (-1: none)."""
    return C.llama_memory_seq_pos_max(C.llama_get_memory(llm.ctx), seq_id)


def test_a_list_of_prompts_gives_one_choice_per_prompt(multi: Llama, expected: list[str]) -> None:
    r = multi.create_completion(PROMPTS, max_tokens=MAX, temperature=0)
    assert [c["index"] for c in r["choices"]] == [0, 1, 2]
    assert [c["text"] for c in r["choices"]] == expected
    assert all(c["finish_reason"] == "length" for c in r["choices"])
    prompt_tokens = sum(len(multi.tokenize(p.encode())) for p in PROMPTS)
    assert r["usage"] == {"prompt_tokens": prompt_tokens, "completion_tokens": 3 * MAX,
                          "total_tokens": prompt_tokens + 3 * MAX}
    for seq in range(4):
        assert cells_of(multi, seq) == -1  # finished sequences free their cells at once


def test_a_list_works_on_a_default_llama_too(single: Llama, expected: list[str]) -> None:
    r = single.create_completion(PROMPTS, max_tokens=MAX, temperature=0)  # n_seq_max=1: one after another
    assert [c["text"] for c in r["choices"]] == expected


def test_a_token_list_stays_one_prompt(multi: Llama, expected: list[str]) -> None:
    tokens = multi.tokenize(PROMPTS[0].encode())
    r = multi.create_completion(tokens, max_tokens=MAX, temperature=0)
    assert len(r["choices"]) == 1 and r["choices"][0]["text"] == expected[0]
    r = multi.create_completion([tokens, multi.tokenize(PROMPTS[1].encode())], max_tokens=MAX, temperature=0)
    assert [c["text"] for c in r["choices"]] == expected[:2]


def test_more_prompts_than_sequences_wait_their_turn(model_path: str, expected: list[str]) -> None:
    with Llama(model_path=model_path, n_ctx=512, n_seq_max=2, verbose=False) as llm:
        r = llm.create_completion(PROMPTS * 2, max_tokens=MAX, temperature=0)
    assert [c["text"] for c in r["choices"]] == expected * 2


def test_n_choices_are_identical_when_greedy(multi: Llama, expected: list[str]) -> None:
    r = multi.create_completion(PROMPTS[0], max_tokens=MAX, temperature=0, n=3)
    assert [c["index"] for c in r["choices"]] == [0, 1, 2]
    assert [c["text"] for c in r["choices"]] == [expected[0]] * 3
    assert r["usage"]["prompt_tokens"] == len(multi.tokenize(PROMPTS[0].encode()))  # the prompt counts once


def test_n_choices_differ_when_sampling_and_repeat_with_the_seed(multi: Llama) -> None:
    kw = dict(max_tokens=12, temperature=1.0, n=4, seed=7)
    a = [c["text"] for c in multi.create_completion("Once upon a time", **kw)["choices"]]
    b = [c["text"] for c in multi.create_completion("Once upon a time", **kw)["choices"]]
    assert a == b
    assert len(set(a)) >= 3


def test_n_with_several_prompts_numbers_choices_prompt_by_prompt(multi: Llama, expected: list[str]) -> None:
    r = multi.create_completion(PROMPTS[:2], max_tokens=MAX, temperature=0, n=2)
    assert [(c["index"], c["text"]) for c in r["choices"]] == [
        (0, expected[0]), (1, expected[0]), (2, expected[1]), (3, expected[1])]


def test_best_of_keeps_the_most_likely_candidates(multi: Llama) -> None:
    r = multi.create_completion("Once upon a time", max_tokens=10, temperature=1.0, n=1, best_of=3, seed=3,
                                logprobs=0)
    assert len(r["choices"]) == 1
    (choice,) = r["choices"]
    assert r["usage"]["completion_tokens"] > len(choice["logprobs"]["tokens"])  # all candidates are counted
    # the kept candidate is the one with the highest mean token log-probability
    kept = sum(choice["logprobs"]["token_logprobs"]) / len(choice["logprobs"]["token_logprobs"])
    every = multi.create_completion("Once upon a time", max_tokens=10, temperature=1.0, n=3, seed=3, logprobs=0)
    means = [sum(c["logprobs"]["token_logprobs"]) / len(c["logprobs"]["token_logprobs"]) for c in every["choices"]]
    assert kept == pytest.approx(max(means))


def test_stream_with_several_choices(multi: Llama, expected: list[str]) -> None:
    texts: dict[int, str] = {}
    finishes: dict[int, list[str]] = {}
    for chunk in multi.create_completion(PROMPTS, max_tokens=MAX, temperature=0, stream=True):
        (choice,) = chunk["choices"]
        texts[choice["index"]] = texts.get(choice["index"], "") + choice["text"]
        if choice["finish_reason"] is not None:
            finishes.setdefault(choice["index"], []).append(choice["finish_reason"])
    assert [texts[i] for i in range(3)] == expected
    assert finishes == {0: ["length"], 1: ["length"], 2: ["length"]}


def test_chat_n_choices(multi: Llama) -> None:
    messages = [{"role": "user", "content": "What is the capital of France? One word."}]
    r = multi.create_chat_completion(messages, n=2, max_tokens=6, temperature=0)
    assert [c["index"] for c in r["choices"]] == [0, 1]
    assert r["choices"][0]["message"] == r["choices"][1]["message"]
    assert "Paris" in r["choices"][0]["message"]["content"]
    roles = [ch["choices"][0]["index"] for ch in multi.create_chat_completion(messages, n=2, max_tokens=3,
                                                                              temperature=0, stream=True)
             if ch["choices"][0]["delta"].get("role")]
    assert sorted(roles) == [0, 1]


def test_cancelling_one_stream_lets_the_others_go_on(multi: Llama, expected: list[str]) -> None:
    a = multi.create_completion(PROMPTS[0], max_tokens=64, temperature=0, stream=True)
    b = multi.create_completion(PROMPTS[1], max_tokens=MAX, temperature=0, stream=True)
    next(a)
    first = next(b)["choices"][0]["text"]
    a.close()  # the consumer goes away: its sequence stops and frees its cells
    busy = [seq for seq in range(4) if cells_of(multi, seq) >= 0]
    assert len(busy) == 1  # only b's sequence still holds cells
    assert first + "".join(ch["choices"][0]["text"] for ch in b) == expected[1]
    r = multi.create_completion(PROMPTS[1], max_tokens=MAX, temperature=0)
    assert r["choices"][0]["text"] == expected[1]
    assert all(cells_of(multi, seq) == -1 for seq in range(4))


def test_stop_strings_end_one_choice(multi: Llama, expected: list[str]) -> None:
    r = multi.create_completion(PROMPTS[:2], max_tokens=MAX, temperature=0, stop=["."])
    assert r["choices"][0]["text"] == expected[0].split(".")[0]
    assert r["choices"][0]["finish_reason"] == "stop"


def test_threads_share_one_llama_and_are_decoded_together(multi: Llama, expected: list[str]) -> None:
    seen: list[int] = []
    generator = multi._scheduler.generator

    def count_running(input_ids, scores):  # a logits processor: called once per sampled token
        seen.append(len(generator._running))
        return scores

    results: dict[int, str] = {}
    barrier = threading.Barrier(3)

    def worker(i: int) -> None:
        barrier.wait()
        r = multi.create_completion(PROMPTS[i], max_tokens=MAX, temperature=0, logits_processor=count_running)
        results[i] = r["choices"][0]["text"]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [results[i] for i in range(3)] == expected
    assert max(seen) >= 2  # at least some steps decoded several callers' sequences together


def test_a_full_context_preempts_and_still_finishes(model_path: str) -> None:
    with Llama(model_path=model_path, n_ctx=256, n_batch=256, n_seq_max=4, verbose=False) as llm:
        r = llm.create_completion(PROMPTS + ["One, two, three,"], max_tokens=90, temperature=0)
        assert [c["finish_reason"] for c in r["choices"]] == ["length"] * 4
        assert r["usage"]["completion_tokens"] == 4 * 90  # 4 x (prompt + 90) cells never fit 256 at once


def test_single_sequence_api_waits_for_a_batch_on_its_sequence(model_path: str, expected: list[str]) -> None:
    with Llama(model_path=model_path, n_ctx=512, verbose=False) as llm:  # n_seq_max=1: one shared sequence
        stream = llm.create_completion(PROMPTS[:2], max_tokens=MAX, temperature=0, stream=True)
        next(stream)
        llm.reset()
        tokens = llm.tokenize(PROMPTS[2].encode())
        llm.eval(tokens)  # runs the batch to its end first, then uses the sequence
        assert llm.n_tokens == len(tokens)
        text = {}
        for ch in stream:
            c = ch["choices"][0]
            text[c["index"]] = text.get(c["index"], "") + c["text"]
        assert len(text) == 2


def test_bad_choice_arguments(multi: Llama) -> None:
    with pytest.raises(ValueError, match="best_of"):
        multi.create_completion("Hi", n=3, best_of=2)
    with pytest.raises(ValueError, match="stream"):
        multi.create_completion("Hi", best_of=2, stream=True)
    with pytest.raises(ValueError, match="n must be a positive int"):
        multi.create_completion("Hi", n=0)
    with pytest.raises(ValueError, match="exceed context window"):
        multi.create_completion(["Hi", "word " * 2000], max_tokens=2)
    with pytest.raises(ValueError, match="empty list"):
        multi.create_completion([[1, 2], []])


def test_constructor_checks_n_seq_max(model_path: str) -> None:
    with pytest.raises(ValueError, match="n_seq_max"):
        Llama(model_path=model_path, n_seq_max=0, verbose=False)


def test_closing_the_llama_ends_a_running_batch_with_an_error(model_path: str) -> None:
    llm = Llama(model_path=model_path, n_ctx=512, n_seq_max=2, verbose=False)
    stream = llm.create_completion(PROMPTS[:2], max_tokens=32, temperature=0, stream=True)
    next(stream)
    llm.close()
    with pytest.raises(RuntimeError, match="closed"):
        for _ in stream:
            pass


def test_each_sequence_samples_with_its_own_grammar_and_bias(multi: Llama) -> None:
    import json

    from llama_cpp import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(json.dumps(
        {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}))
    r = multi.create_completion(["A JSON object:", "Another JSON object:"], max_tokens=24, temperature=0.8, seed=1,
                                grammar=grammar)
    for choice in r["choices"]:
        if choice["finish_reason"] == "stop":
            assert isinstance(json.loads(choice["text"])["n"], int)
        else:
            assert choice["text"].startswith("{")
    banned = multi.tokenize(b" Paris", add_bos=False)[0]
    r = multi.create_completion([PROMPTS[0]] * 2, max_tokens=2, temperature=0, logit_bias={banned: -100.0})
    assert all("Paris" not in c["text"] for c in r["choices"])


def test_a_stream_dropped_before_it_starts_frees_its_sequences(multi: Llama) -> None:
    import gc

    stream = multi.create_completion(PROMPTS, max_tokens=None, temperature=0, stream=True)
    del stream
    gc.collect()
    r = multi.create_completion(PROMPTS[0], max_tokens=2, temperature=0)  # steps run; nothing else is generating
    assert r["choices"][0]["finish_reason"] == "length"
    assert not multi._scheduler.generator.has_work
    assert all(cells_of(multi, seq) == -1 for seq in range(4))
