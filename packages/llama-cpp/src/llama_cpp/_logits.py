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
StoppingCriteria = Callable[["npt.NDArray[np.intc]", "npt.NDArray[np.single]"], bool]


class LogitsProcessorList(List[LogitsProcessor]):
    """Processors applied in order; each gets the previous one's output."""

    def __call__(self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]) -> npt.NDArray[np.single]:
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


class StoppingCriteriaList(List[StoppingCriteria]):
    """True when any criterion is true (every criterion is evaluated)."""

    def __call__(self, input_ids: npt.NDArray[np.intc], logits: npt.NDArray[np.single]) -> bool:
        results = [criterion(input_ids, logits) for criterion in self]
        return any(results)


class MinTokensLogitsProcessor:
    """Forbid the end-of-sequence token until ``min_tokens`` tokens were generated."""

    def __init__(self, min_tokens: int, token_eos: int):
        self.min_tokens = min_tokens
        self.token_eos = token_eos
        self.prompt_tokens: int | None = None

    def __call__(self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]) -> npt.NDArray[np.single]:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        if len(input_ids) - self.prompt_tokens < self.min_tokens:
            scores[self.token_eos] = -np.inf
        return scores
