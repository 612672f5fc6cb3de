"""Embeddings: many inputs packed into each ``llama_decode``, one sequence each.

As many inputs go into one batch as ``n_batch`` tokens and the context's
``n_seq_max`` sequences allow (an embedding context gets up to
``min(n_batch, llama_max_parallel_sequences())`` sequences), so a list of
short texts costs a few decodes instead of one per text. Results equal the
one-at-a-time ones: each input is its own sequence, attending only to itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Tuple

from . import llama_cpp as C
from ._errors import decode_error
from ._internals import normalize_embedding
from ._numpy import np

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["embed"]


def embed(engine: Engine, tokenize: Callable[[str], List[int]], inputs: List[str], normalize: bool,
          truncate: bool) -> Tuple[List[Any], int]:
    """(one embedding per input, tokens used); the caller holds the engine exclusively.

    With pooling, an embedding is one vector; without (``LLAMA_POOLING_TYPE_NONE``),
    a vector per token.
    """
    ctx_obj = engine.require_open()
    batch = engine.batch
    assert batch is not None and engine.model is not None
    ctx = ctx_obj.ctx
    pooling_none = ctx_obj.pooling_type() == C.LLAMA_POOLING_TYPE_NONE
    n_embd = engine.model.n_embd()
    n_seq_max = max(int(C.llama_n_seq_max(ctx)), 1)
    n_batch = engine.n_batch
    results: List[Any] = []
    total = 0
    lengths: List[int] = []  # of the sequences in the current batch

    def flush() -> None:
        if not lengths:
            return
        ctx_obj.kv_cache_clear()
        rc = C.llama_decode(ctx, batch.batch)
        if rc != 0:
            raise decode_error(rc, batch.n_tokens())
        row = 0
        for seq_id, length in enumerate(lengths):
            out: Any
            if pooling_none:
                emb = np.ctypeslib.as_array(C.llama_get_embeddings(ctx), shape=(batch.n_tokens(), n_embd))
                vecs = emb[row: row + length]
                out = [normalize_embedding(v) if normalize else v.tolist() for v in vecs]
            else:
                ptr = C.llama_get_embeddings_seq(ctx, seq_id)
                if not ptr:
                    raise RuntimeError("llama.cpp returned no pooled embedding; pass pooling_type to Llama()")
                v = np.ctypeslib.as_array(ptr, shape=(n_embd,))
                out = normalize_embedding(v) if normalize else v.tolist()
            results.append(out)
            row += length
        lengths.clear()
        batch.reset()

    batch.reset()
    try:
        for text in inputs:
            tokens = tokenize(text)
            if len(tokens) > n_batch:
                if not truncate:
                    raise ValueError(f"Requested tokens ({len(tokens)}) exceed batch size of {n_batch}")
                tokens = tokens[:n_batch]
            total += len(tokens)
            if batch.n_tokens() + len(tokens) > n_batch or len(lengths) >= n_seq_max:
                flush()
            batch.add_sequence(tokens, len(lengths), logits_all=True)
            lengths.append(len(tokens))
        flush()
    finally:
        batch.reset()
        ctx_obj.kv_cache_clear()
        if engine.default is not None:
            engine.default.forget()
    return results, total
