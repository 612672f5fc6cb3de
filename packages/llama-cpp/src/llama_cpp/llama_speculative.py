"""Draft models for speculative decoding (``Llama(draft_model=...)``).

A draft model proposes a continuation of the tokens so far; the main model
checks all proposals in one batch and keeps the prefix it agrees with, so
greedy output is identical with and without a draft model.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

from ._numpy import np

if TYPE_CHECKING:
    import numpy.typing as npt


__all__ = ["LlamaDraftModel", "LlamaPromptLookupDecoding"]


class LlamaDraftModel(abc.ABC):
    @abc.abstractmethod
    def __call__(self, input_ids: npt.NDArray[np.intc], /, **kwargs: Any) -> npt.NDArray[np.intc]:
        """Proposed next tokens after ``input_ids`` (possibly none)."""


class LlamaPromptLookupDecoding(LlamaDraftModel):
    """Propose the tokens that followed the first earlier occurrence of the current n-gram.

    Cheap and effective when the output repeats the input (summaries, code edits, extraction).
    """

    def __init__(self, max_ngram_size: int = 2, num_pred_tokens: int = 10):
        self.max_ngram_size = max_ngram_size
        self.num_pred_tokens = num_pred_tokens

    @staticmethod
    def find_candidate_pred_tokens(
        input_ids: npt.NDArray[np.intc], max_ngram_size: int, num_pred_tokens: int
    ) -> npt.NDArray[np.intc]:
        ids = np.asarray(input_ids, dtype=np.intc)
        n_ids = len(ids)
        for n in range(min(max_ngram_size, n_ids - 1), 0, -1):
            query = ids[n_ids - n:]
            windows = np.lib.stride_tricks.sliding_window_view(ids, n)
            matches = np.nonzero(np.all(windows == query, axis=1))[0]
            for i in matches:
                start = int(i) + n
                end = min(start + num_pred_tokens, n_ids)
                if start < end:
                    return ids[start:end]
        return np.array([], dtype=np.intc)

    def __call__(self, input_ids: npt.NDArray[np.intc], /, **kwargs: Any) -> npt.NDArray[np.intc]:
        return self.find_candidate_pred_tokens(input_ids, self.max_ngram_size, self.num_pred_tokens)
