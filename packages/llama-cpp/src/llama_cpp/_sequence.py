"""One generation request and the running state of its sequence.

A `GenerationRequest` says what to generate; the batch generator turns
each into a `SequenceState`, which holds everything that belongs to one
sequence and nothing that belongs to the model or the context: its tokens, how
many of them the KV cache holds, its native sampler chain (with its own
grammar, logit bias, penalties and seed), its Python logits processors and
stopping criteria, and its sequence id while it has one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, NamedTuple, Optional

from ._numpy import np
from ._sampling import SamplerChain, SamplingParams

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._internals import LlamaModel
    from ._logits import LogitsProcessorList, StoppingCriteriaList

__all__ = ["GenerationRequest", "Sequence", "SequenceState", "TokenEvent"]

_uids = itertools.count(1)


@dataclass
class GenerationRequest:
    """What to generate for one sequence.

    Attributes:
        tokens: The prompt as token ids (at least one).
        params: Sampling parameters; the request's sampler chain is built from them.
        max_tokens: The most tokens to generate (the caller has already fitted it to the context).
        logprobs: Report the log-probability of each sampled token and of this many alternatives
            (``None``: report nothing).
        score: Report each sampled token's log-probability even without ``logprobs`` (``best_of``
            ranks choices by their mean).
        logits_processor: Python logits processors, applied before the sampler chain.
        stopping_criteria: Python stopping criteria, asked after each sampled token.
        share_prompt: Requests with the same non-``None`` value and the same tokens evaluate the
            prompt once: the others copy its KV cells (``n`` choices of one prompt).
    """

    tokens: List[int]
    params: SamplingParams
    max_tokens: int
    logprobs: Optional[int] = None
    score: bool = False
    logits_processor: Optional[LogitsProcessorList] = None
    stopping_criteria: Optional[StoppingCriteriaList] = None
    share_prompt: Optional[object] = None
    uid: int = field(default_factory=lambda: next(_uids))


class TokenEvent(NamedTuple):
    """What one step produced for one sequence.

    ``token`` is ``None`` when the sequence ended without a new visible token (an
    end-of-generation token, or a stopping criterion). ``finish_reason`` is
    ``None`` while the sequence goes on, else ``"stop"`` or ``"length"``.
    ``logprob``/``top_logprobs`` are filled when the request asked for them.
    """

    uid: int
    token: Optional[int]
    finish_reason: Optional[str]
    logprob: Optional[float] = None
    top_logprobs: Optional[Dict[str, float]] = None


class SequenceState:
    """The running state of one request (see the module docstring)."""

    __slots__ = ("request", "uid", "tokens", "prompt_len", "n_past", "chain", "seq_id", "n_generated",
                 "finished", "leader", "admitted")

    def __init__(self, request: GenerationRequest) -> None:
        self.request = request
        self.uid = request.uid
        self.tokens: List[int] = list(request.tokens)  # prompt, then each sampled token once it is to be fed
        self.prompt_len = len(request.tokens)
        self.n_past = 0  # how many of ``tokens`` the KV cache holds for ``seq_id``
        self.chain: Optional[SamplerChain] = None
        self.seq_id: Optional[int] = None
        self.n_generated = 0
        self.finished = False
        self.leader: Optional[SequenceState] = None  # set while waiting to copy a sibling's evaluated prompt
        self.admitted = 0  # admission counter value: the newest sequence is preempted first

    def ensure_chain(self, model: LlamaModel) -> SamplerChain:
        """The sampler chain, built (and primed with the prompt for penalties) on first use."""
        if self.chain is None:
            self.chain = SamplerChain(model, self.request.params)
            self.chain.prime_penalties(self.tokens[: self.prompt_len])
        return self.chain

    @property
    def pending(self) -> int:
        """Tokens still to feed to the context before the next sample."""
        return len(self.tokens) - self.n_past

    def ids(self, token: Optional[int] = None) -> npt.NDArray[np.intc]:
        """The sequence's tokens as the array logits processors and stopping criteria receive."""
        ids = self.tokens if token is None else [*self.tokens, token]
        return np.asarray(ids, dtype=np.intc)

    def close(self) -> None:
        if self.chain is not None:
            self.chain.close()
            self.chain = None


class Sequence:
    """The sequence the single-sequence API works on (``eval``, ``sample``, ``generate``, state).

    ``input_ids[:n_tokens]`` are the tokens the KV cache holds for
    `seq_id`; ``scores`` holds their logits rows with ``logits_all``
    (else one row). `logits_fresh` says whether the context's last
    logits belong to ``input_ids[n_tokens - 1]``; `restored_logits` is
    the row a loaded state carried, used instead of evaluating again.
    """

    def __init__(self, seq_id: int, n_ctx: int, n_vocab: int, logits_all: bool) -> None:
        self.seq_id = seq_id
        self.n_ctx = n_ctx
        self.n_vocab = n_vocab
        self.logits_all = logits_all
        # made on first use, so creating a Llama does not import NumPy (a third of the load time)
        self._input_ids: Optional[npt.NDArray[np.intc]] = None
        self._scores: Optional[npt.NDArray[np.single]] = None
        self.n_tokens = 0
        self.logits_fresh = False
        self.restored_logits: Optional[npt.NDArray[np.single]] = None
        self.sampler: Optional[SamplerChain] = None  # the chain of the stream in progress

    @property
    def input_ids(self) -> npt.NDArray[np.intc]:
        """One slot per context cell; the first ``n_tokens`` are evaluated."""
        if self._input_ids is None:
            self._input_ids = np.zeros((self.n_ctx,), dtype=np.intc)
        return self._input_ids

    @property
    def scores(self) -> npt.NDArray[np.single]:
        """Logits rows: one per evaluated position with ``logits_all`` (added as they come), else one."""
        if self._scores is None:
            self._scores = np.zeros((0 if self.logits_all else 1, self.n_vocab), dtype=np.single)
        return self._scores

    @scores.setter
    def scores(self, value: npt.NDArray[np.single]) -> None:
        self._scores = value

    @property
    def tokens(self) -> npt.NDArray[np.intc]:
        """The evaluated tokens (a view)."""
        return self.input_ids[: self.n_tokens]

    def forget(self) -> None:
        """Hold nothing any more (the caller has removed or lost the KV cells)."""
        self.n_tokens = 0
        self.logits_fresh = False
        self.restored_logits = None

    def grow_scores(self, rows: int) -> None:
        """Make room for ``rows`` logits rows (``logits_all``)."""
        have = self.scores.shape[0]
        if rows > have:
            grown = np.zeros((min(max(rows, 2 * have, 64), self.n_ctx), self.n_vocab), dtype=np.single)
            grown[:have] = self.scores
            self.scores = grown

    def close(self) -> None:
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None
