"""The raw C API end to end on the real model: load, tokenize, decode, sample, detokenize."""

from __future__ import annotations

import ctypes

import pytest

import llama_cpp
import llama_cpp.llama_cpp as C
from gguf_reader import read_metadata


def generate_greedy(model_path: str, prompt: bytes, n_predict: int) -> tuple[list[int], list[int], str]:
    C.llama_backend_init()
    mparams = C.llama_model_default_params()
    model = C.llama_model_load_from_file(model_path.encode(), mparams)
    assert model, "llama_model_load_from_file returned NULL"
    try:
        vocab = C.llama_model_get_vocab(model)
        cparams = C.llama_context_default_params()
        cparams.n_ctx = 256
        cparams.n_batch = 256
        cparams.n_threads = 2
        cparams.n_threads_batch = 2
        ctx = C.llama_init_from_model(model, cparams)
        assert ctx, "llama_init_from_model returned NULL"
        try:
            buf = (C.llama_token * 64)()
            n = C.llama_tokenize(vocab, prompt, len(prompt), buf, 64, True, False)
            assert n > 0
            prompt_tokens = list(buf[:n])

            batch = C.llama_batch_init(64, 0, 1)
            try:
                for i, tok in enumerate(prompt_tokens):
                    batch.token[i] = tok
                    batch.pos[i] = i
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = 0
                    batch.logits[i] = i == n - 1
                batch.n_tokens = n
                assert C.llama_decode(ctx, batch) == 0

                chain = C.llama_sampler_chain_init(C.llama_sampler_chain_default_params())
                C.llama_sampler_chain_add(chain, C.llama_sampler_init_greedy())
                out: list[int] = []
                pos = n
                one = (C.llama_token * 1)()
                for _ in range(n_predict):
                    tok = C.llama_sampler_sample(chain, ctx, -1)
                    if C.llama_vocab_is_eog(vocab, tok):
                        break
                    out.append(tok)
                    one[0] = tok
                    single = C.llama_batch_get_one(one, 1)
                    assert C.llama_decode(ctx, single) == 0
                    pos += 1
                C.llama_sampler_free(chain)
            finally:
                C.llama_batch_free(batch)

            text = bytearray()
            piece = ctypes.create_string_buffer(256)
            for tok in out:
                k = C.llama_token_to_piece(vocab, tok, piece, 256, 0, False)
                assert k >= 0
                text += piece.raw[:k]
            # the one-call detokenizer agrees with piece-by-piece
            arr = (C.llama_token * len(out))(*out)
            dbuf = ctypes.create_string_buffer(4096)
            k = C.llama_detokenize(vocab, arr, len(out), dbuf, 4096, False, False)
            assert dbuf.raw[:k] == bytes(text)
            return prompt_tokens, out, text.decode("utf-8")
        finally:
            C.llama_free(ctx)
    finally:
        C.llama_model_free(model)


def test_tokenize_hello_matches_the_vocab(model_path: str) -> None:
    tokens = read_metadata(model_path)["tokenizer.ggml.tokens"]
    expected = tokens.index("Hello")
    mparams = C.llama_model_default_params()
    mparams.vocab_only = True
    model = C.llama_model_load_from_file(model_path.encode(), mparams)
    assert model
    try:
        vocab = C.llama_model_get_vocab(model)
        buf = (C.llama_token * 8)()
        n = C.llama_tokenize(vocab, b"Hello", 5, buf, 8, False, False)
        assert list(buf[:n]) == [expected] == [19556]
        assert C.llama_vocab_n_tokens(vocab) == len(tokens)
    finally:
        C.llama_model_free(model)


def test_greedy_generation_is_real_and_repeatable(model_path: str) -> None:
    prompt = b"The capital of France is"
    p1, t1, text1 = generate_greedy(model_path, prompt, 16)
    p2, t2, text2 = generate_greedy(model_path, prompt, 16)
    assert p1 == p2
    assert len(t1) == 16
    assert t1 == t2 and text1 == text2
    assert "Paris" in text1


def test_top_level_reexports_low_level_names() -> None:
    assert llama_cpp.llama_decode is C.llama_decode
    assert llama_cpp.LLAMA_DEFAULT_SEED == 0xFFFFFFFF
    assert llama_cpp.llama_token is ctypes.c_int32
    assert isinstance(llama_cpp.llama_cpp._lib, ctypes.CDLL)
    from llama_cpp._logger import logger

    assert logger.name == "llama-cpp-python"


def test_deprecated_function_warns_and_still_works(model_path: str) -> None:
    mparams = C.llama_model_default_params()
    mparams.vocab_only = True
    model = C.llama_model_load_from_file(model_path.encode(), mparams)
    try:
        vocab = C.llama_model_get_vocab(model)
        with pytest.warns(DeprecationWarning, match="llama_token_bos is deprecated; use llama_vocab_bos instead"):
            assert C.llama_token_bos(vocab) == C.llama_vocab_bos(vocab)
    finally:
        C.llama_model_free(model)
