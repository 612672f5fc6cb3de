"""Python-side logits processors and stopping criteria (the exception path).

Sampling normally runs entirely in llama.cpp's native sampler chain. These
callables are for users who need Python code between the model's logits and
the sampler; they are only invoked when passed in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, List

from ._numpy import np

if TYPE_CHECKING:
    import numpy.typing as npt


__all__ = [
    "LogitsProcessor",
    "LogitsProcessorList",
    "StoppingCriteria",
    "StoppingCriteriaList",
    "MinTokensLogitsProcessor",
]

# The array types are spelled as strings so that defining these aliases does not import NumPy (see _numpy.py)
LogitsProcessor = Callable[["npt.NDArray[np.intc]", "npt.NDArray[np.single]"], "npt.NDArray[np.single]"]
"""A function ``f(input_ids, scores) -> scores`` that may change the logits before sampling.

``input_ids`` holds the tokens so far (prompt and generated ones); ``scores`` is a
NumPy view of the logits row the next token is sampled from (one float per
vocabulary entry). Return the scores to use: the same array changed in place, or a
new one of the same shape. Set an entry to ``-numpy.inf`` to forbid that token.
"""
StoppingCriteria = Callable[["npt.NDArray[np.intc]", "npt.NDArray[np.single]"], bool]
"""A function ``f(input_ids, logits) -> bool`` asked after every generated token.

``input_ids`` holds the tokens so far, including the one just sampled; ``logits``
is the row that token was sampled from. Return ``True`` to stop generating (the
completion ends with ``finish_reason == "stop"``).
"""


class LogitsProcessorList(List[LogitsProcessor]):
    """A list of `LogitsProcessor` functions, itself a logits processor.

    Pass it as ``logits_processor=`` to ``Llama.create_completion``,
    ``create_chat_completion``, ``generate`` or ``sample``. The processors run in
    order; each gets the scores the previous one returned.
    """

    def __call__(self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]) -> npt.NDArray[np.single]:
        """Run every processor in order.

        Args:
            input_ids: The tokens so far.
            scores: The logits row the next token will be sampled from.

        Returns:
            The scores returned by the last processor (``scores`` itself when the
            list is empty).
        """
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


class StoppingCriteriaList(List[StoppingCriteria]):
    """A list of `StoppingCriteria` functions, itself a stopping criterion.

    Pass it as ``stopping_criteria=`` to ``Llama.create_completion``,
    ``create_chat_completion`` or ``generate``.
    """

    def __call__(self, input_ids: npt.NDArray[np.intc], logits: npt.NDArray[np.single]) -> bool:
        """Ask every criterion (all of them, even after one said stop).

        Args:
            input_ids: The tokens so far, including the one just sampled.
            logits: The logits row that token was sampled from.

        Returns:
            Whether any criterion asked to stop.
        """
        results = [criterion(input_ids, logits) for criterion in self]
        return any(results)


class MinTokensLogitsProcessor:
    """A logits processor that forbids the end-of-sequence token for the first tokens.

    The first call remembers the prompt's length, so use a fresh instance per
    completion.

    Args:
        min_tokens: How many tokens must be generated before the end-of-sequence
            token may be sampled.
        token_eos: The end-of-sequence token id (``Llama.token_eos()``).
    """

    def __init__(self, min_tokens: int, token_eos: int):
        self.min_tokens = min_tokens
        self.token_eos = token_eos
        self.prompt_tokens: int | None = None

    def __call__(self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]) -> npt.NDArray[np.single]:
        """Set the end-of-sequence score to ``-inf`` while fewer than ``min_tokens`` were generated.

        Args:
            input_ids: The tokens so far.
            scores: The logits row, changed in place.

        Returns:
            ``scores``.
        """
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        if len(input_ids) - self.prompt_tokens < self.min_tokens:
            scores[self.token_eos] = -np.inf
        return scores
