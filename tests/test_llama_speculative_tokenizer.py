"""Speculative decoding and the tokenizer wrappers."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import VENDOR
from llama_cpp import Llama, LlamaTokenizer
from llama_cpp.llama_speculative import LlamaDraftModel, LlamaPromptLookupDecoding


def test_prompt_lookup_candidates() -> None:
    find = LlamaPromptLookupDecoding.find_candidate_pred_tokens
    assert find(np.array([1, 2, 3, 1, 2, 3, 1, 2, 3], dtype=np.intc), 3, 2).tolist() == [1, 2]
    assert find(np.array(range(1, 10), dtype=np.intc), 3, 2).tolist() == []
    assert find(np.array([5, 6, 7, 8, 5, 6], dtype=np.intc), 2, 10).tolist() == [7, 8, 5, 6]


class CountingDraft(LlamaDraftModel):
    def __init__(self) -> None:
        self.inner = LlamaPromptLookupDecoding(max_ngram_size=3, num_pred_tokens=8)
        self.proposed = 0

    def __call__(self, input_ids: np.ndarray, /, **kwargs: object) -> np.ndarray:
        out = self.inner(input_ids)
        self.proposed += len(out)
        return out


PROMPT = ", ".join(str(i) for i in range(1, 29)) + ","


def greedy_tokens(llm: Llama, n: int) -> list[int]:
    gen = llm.generate(llm.tokenize(PROMPT.encode(), add_bos=False), temp=0)
    out = [next(gen) for _ in range(n)]
    gen.close()
    return out


def test_greedy_output_is_identical_with_a_draft_model(model_path: str) -> None:
    """Speculation changes how tokens are batched, not which token greedy decoding picks.

    (llama.cpp's CPU kernels are not bit-identical across batch shapes: a position
    evaluated inside a batch can get logits ~1 away from one-token decoding on
    this model, which can flip a near-tie. The counting prompt has no near-ties,
    so any difference here is a bug in accepting or rolling back proposals.)
    """
    with Llama(model_path=model_path, n_ctx=512, verbose=False) as plain:
        expected = plain.create_completion(PROMPT, max_tokens=64, temperature=0)
    draft = CountingDraft()
    with Llama(model_path=model_path, n_ctx=512, draft_model=draft, verbose=False) as spec:
        got = spec.create_completion(PROMPT, max_tokens=64, temperature=0)
        streamed = "".join(c["choices"][0]["text"] for c in spec.create_completion(PROMPT, max_tokens=64, temperature=0, stream=True))
    assert expected["choices"][0]["text"].startswith(" 29, 30, 31")
    assert draft.proposed >= 20
    assert got["choices"][0]["text"] == expected["choices"][0]["text"] == streamed
    assert got["usage"] == expected["usage"]


def test_rejected_proposals_are_rolled_back(model_path: str) -> None:
    class Wrong(LlamaDraftModel):
        def __call__(self, input_ids: np.ndarray, /, **kwargs: object) -> np.ndarray:
            return np.array([13, 13, 13], dtype=np.intc)  # almost never what the model wants

    with Llama(model_path=model_path, n_ctx=512, verbose=False) as plain:
        expected = greedy_tokens(plain, 12)
    with Llama(model_path=model_path, n_ctx=512, draft_model=Wrong(), verbose=False) as spec:
        got = greedy_tokens(spec, 12)
        assert spec.n_tokens == len(spec.tokenize(PROMPT.encode(), add_bos=False)) + 11
    assert got == expected


@pytest.fixture(scope="module")
def spm() -> Llama:
    return Llama(model_path=str(VENDOR / "models" / "ggml-vocab-llama-spm.gguf"), vocab_only=True, verbose=False)


def test_spm_tokenizer_fixtures(spm: Llama) -> None:
    tok = LlamaTokenizer(spm)
    assert tok.tokenize(b"Hello World") == [1, 15043, 2787]
    assert tok.detokenize([1, 15043, 2787]) == b"Hello World"
    assert tok.tokenize(b"Hello World", add_bos=False) == [15043, 2787]
    assert tok.detokenize([15043, 2787]) == b" Hello World"
    assert tok.tokenize(b"Hello World</s>", special=False) == [1, 15043, 2787, 829, 29879, 29958]
    assert tok.tokenize(b"Hello World</s>", special=True) == [1, 15043, 2787, 2]
    assert tok.tokenize(b"", add_bos=True, special=True) == [1]
    assert tok.detokenize([1]) == b""
    assert tok.encode("Hello World") == [1, 15043, 2787] and tok.decode([1, 15043, 2787]) == "Hello World"


def test_detokenize_with_previous_tokens(spm: Llama) -> None:
    ids = spm.tokenize(b"Hello World")
    assert spm.detokenize(ids[2:], prev_tokens=ids[:2]) == b" World"
    assert spm.detokenize([2], special=True) == b"</s>" and spm.detokenize([2]) == b""


def test_vocab_only_model_tokenizes_but_has_context(spm: Llama) -> None:
    assert spm.n_vocab() == 32000 and spm.n_ctx() > 0
