"""Saving and restoring a ``Llama``'s state, and the prompt cache's use of it.

`LlamaState` is what ``save_state`` returns and ``load_state`` takes:
the default sequence's tokens, its logits (all rows with ``logits_all``, else
the last one, so a restored state samples exactly what the original would
have) and llama.cpp's serialized context. Pickles made by earlier releases
name it ``llama_cpp.llama.LlamaState``, which stays importable.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, List, Optional

from . import llama_cpp as C
from ._numpy import np
from ._sampling import as_logits_view
from ._utils import common_prefix_length

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._engine import Engine
    from ._sequence import Sequence
    from .llama_cache import BaseLlamaCache

__all__ = ["LlamaState", "save", "load", "cached_state"]


class LlamaState:
    """A snapshot of a `Llama`'s evaluated tokens and native state (picklable).

    Attributes:
        input_ids: The evaluated tokens (the array may be longer than ``n_tokens``).
        scores: Logits rows: every evaluated position's with ``logits_all``, else the last one.
        n_tokens: How many of ``input_ids`` were evaluated.
        llama_state: llama.cpp's serialized context.
        llama_state_size: Its size in bytes.
        seed: The ``Llama``'s seed when saved.
        logits_valid: Whether ``scores[-1]`` holds the logits that followed ``input_ids[n_tokens - 1]``.
    """

    def __init__(
        self,
        input_ids: npt.NDArray[np.intc],
        scores: npt.NDArray[np.single],
        n_tokens: int,
        llama_state: bytes,
        llama_state_size: int,
        seed: int,
        logits_valid: bool = False,
    ):
        self.input_ids = input_ids
        self.scores = scores
        self.n_tokens = n_tokens
        self.llama_state = llama_state
        self.llama_state_size = llama_state_size
        self.seed = seed
        self.logits_valid = logits_valid


LlamaState.__module__ = "llama_cpp.llama"  # where pickles look it up (as the API we replace names it)


def save(engine: Engine, seq: Sequence, seed: int) -> LlamaState:
    """Snapshot the context and the default sequence (the caller holds the engine exclusively)."""
    ctx = engine.require_open().ctx
    size = C.llama_state_get_size(ctx)
    buf = (ctypes.c_uint8 * size)()
    written = C.llama_state_get_data(ctx, buf, size)
    if written > size:
        raise RuntimeError("Failed to copy llama state data")
    if seq.logits_all:
        scores = seq.scores[: seq.n_tokens, :].copy()
    elif seq.logits_fresh and seq.n_tokens > 0:
        scores = as_logits_view(C.llama_get_logits_ith(ctx, -1), engine.n_vocab).reshape(1, -1).copy()
    else:
        scores = np.zeros((0, engine.n_vocab), dtype=np.single)
    return LlamaState(
        input_ids=seq.input_ids.copy(),
        scores=scores,
        n_tokens=seq.n_tokens,
        llama_state=bytes(memoryview(buf)[:written]),
        llama_state_size=written,
        seed=seed,
        logits_valid=seq.logits_fresh,
    )


def load(engine: Engine, seq: Sequence, state: LlamaState) -> None:
    """Restore a snapshot into the context and the default sequence (the caller holds the engine exclusively)."""
    ctx = engine.require_open().ctx
    if len(state.input_ids) > len(seq.input_ids):
        raise ValueError("this state was saved from a Llama with a larger context (n_ctx)")
    n = state.n_tokens
    seq.input_ids[: len(state.input_ids)] = state.input_ids
    if seq.logits_all and len(state.scores):
        rows = min(n, len(state.scores))
        seq.grow_scores(rows)
        seq.scores[:rows] = state.scores[:rows]
    data = ctypes.cast(ctypes.c_char_p(state.llama_state), ctypes.POINTER(ctypes.c_uint8))  # no copy
    if C.llama_state_set_data(ctx, data, state.llama_state_size) != state.llama_state_size:
        raise RuntimeError("Failed to set llama state data")
    seq.n_tokens = n
    seq.logits_fresh = False  # the native state does not carry logits...
    seq.restored_logits = None
    if getattr(state, "logits_valid", False) and n > 0 and len(state.scores):
        seq.restored_logits = np.asarray(state.scores[-1], dtype=np.single)  # ...so the snapshot does


def cached_state(cache: BaseLlamaCache, seq: Sequence, prompt_tokens: List[int]) -> Optional[LlamaState]:
    """The cached state worth restoring for ``prompt_tokens``: one sharing more of it than the context does."""
    try:
        state = cache[prompt_tokens]
    except KeyError:
        return None
    have = common_prefix_length(seq.tokens, prompt_tokens)
    cached = common_prefix_length(state.input_ids[: state.n_tokens].tolist(), prompt_tokens)
    return state if cached > have else None
