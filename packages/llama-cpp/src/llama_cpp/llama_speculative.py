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
    """The interface ``Llama(draft_model=...)`` expects."""

    @abc.abstractmethod
    def __call__(self, input_ids: npt.NDArray[np.intc], /, **kwargs: Any) -> npt.NDArray[np.intc]:
        """Propose how the text continues.

        Args:
            input_ids: The tokens so far (prompt and generated ones).
            **kwargs: Reserved for future use; ignore them.

        Returns:
            The proposed next token ids (an empty array proposes nothing).
        """


class LlamaPromptLookupDecoding(LlamaDraftModel):
    """A draft that proposes what followed an earlier occurrence of the last few tokens.

    It looks for the last ``max_ngram_size`` tokens (then shorter n-grams) earlier in
    the text and proposes the tokens that followed them. Cheap, and effective when
    the output repeats the input (extraction, summaries, code edits).

    Args:
        max_ngram_size: The longest n-gram to look for.
        num_pred_tokens: How many tokens to propose at most.
    """

    def __init__(self, max_ngram_size: int = 2, num_pred_tokens: int = 10):
        self.max_ngram_size = max_ngram_size
        self.num_pred_tokens = num_pred_tokens

    @staticmethod
    def find_candidate_pred_tokens(
        input_ids: npt.NDArray[np.intc], max_ngram_size: int, num_pred_tokens: int
    ) -> npt.NDArray[np.intc]:
        """The proposal for ``input_ids``: the tokens after the first earlier match of its last n-gram.

        Args:
            input_ids: The tokens so far.
            max_ngram_size: The longest n-gram to look for.
            num_pred_tokens: How many tokens to propose at most.

        Returns:
            The proposed tokens (empty when no n-gram recurs).
        """
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
        """Propose the next tokens (see `find_candidate_pred_tokens`)."""
        return self.find_candidate_pred_tokens(input_ids, self.max_ngram_size, self.num_pred_tokens)
