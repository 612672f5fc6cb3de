"""Embeddings: shapes, pooling, normalisation, batching equals one-by-one."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest

import llama_cpp.llama_cpp as C
from llama_cpp import Llama

TEXTS = ["The cat sat on the mat.", "A dog barked.", "Quantum computers use qubits.", "Hello!", "Paris is in France."]


@pytest.fixture(scope="module")
def emb(model_path: str) -> Iterator[Llama]:
    with Llama(model_path=model_path, embedding=True, pooling_type=C.LLAMA_POOLING_TYPE_MEAN, n_ctx=512,
               verbose=False) as model:
        yield model


def test_single_and_batched_agree(emb: Llama) -> None:
    one = emb.embed(TEXTS[0])
    assert len(one) == emb.n_embd()
    batched = emb.embed(TEXTS)
    assert len(batched) == len(TEXTS)
    singles = [emb.embed(t) for t in TEXTS]
    for a, b in zip(batched, singles):
        np.testing.assert_allclose(a, b, atol=1e-4)
    rev = emb.embed(list(reversed(TEXTS)))
    for a, b in zip(rev, reversed(batched)):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_normalize_gives_unit_vectors(emb: Llama) -> None:
    for v in emb.embed(TEXTS, normalize=True):
        assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)


def test_similar_texts_are_closer(emb: Llama) -> None:
    a, b, c = emb.embed(["I love cats.", "I adore cats.", "Stock markets fell sharply."], normalize=True)
    assert np.dot(a, b) > np.dot(a, c)


def test_create_embedding_shape_and_counts(emb: Llama) -> None:
    r = emb.create_embedding(TEXTS[:2], model="m")
    assert r["object"] == "list" and r["model"] == "m"
    assert [d["index"] for d in r["data"]] == [0, 1] and all(d["object"] == "embedding" for d in r["data"])
    n = sum(len(emb.tokenize(t.encode())) for t in TEXTS[:2])
    assert r["usage"] == {"prompt_tokens": n, "total_tokens": n}
    result, count = emb.embed("Hello!", return_count=True)
    assert count == len(emb.tokenize(b"Hello!")) and len(result) == emb.n_embd()


def test_many_inputs_span_several_batches(model_path: str) -> None:
    with Llama(model_path=model_path, embedding=True, pooling_type=C.LLAMA_POOLING_TYPE_MEAN, n_ctx=64,
               n_batch=64, verbose=False) as small:
        texts = [f"sentence number {i} about things" for i in range(40)]
        many = small.embed(texts)
        assert len(many) == 40
        np.testing.assert_allclose(many[17], small.embed(texts[17]), atol=1e-4)


def test_pooling_none_gives_per_token_vectors(model_path: str) -> None:
    with Llama(model_path=model_path, embedding=True, pooling_type=C.LLAMA_POOLING_TYPE_NONE, n_ctx=128,
               verbose=False) as model:
        out = model.embed("Hello world")
        assert len(out) == len(model.tokenize(b"Hello world")) and len(out[0]) == model.n_embd()


def test_truncate_and_errors(model_path: str, emb: Llama) -> None:
    long_text = "word " * 2000
    assert len(emb.embed(long_text)) == emb.n_embd()
    with pytest.raises(ValueError, match=r"exceed batch size of"):
        emb.embed(long_text, truncate=False)
    with Llama(model_path=model_path, n_ctx=64, verbose=False) as plain:
        with pytest.raises(RuntimeError, match="Llama model must be created with embedding=True to call this method"):
            plain.embed("x")
    with pytest.raises(TypeError):
        emb.embed(["ok", 3])  # type: ignore[list-item]
