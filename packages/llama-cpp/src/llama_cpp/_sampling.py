"""The native sampler chain, built from sampling parameters in one place.

Every high-level entry point (``sample``, ``generate``, ``create_completion``,
chat) describes what it wants as a ``SamplingParams`` and gets a
``SamplerChain``: llama.cpp samplers only, so choosing a token costs one
native call. Python logits processors are applied to the logits before the
chain runs, and only when given.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional, Sequence

from . import llama_cpp as C
from ._numpy import np

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._internals import LlamaModel
    from .llama_grammar import LlamaGrammar

__all__ = ["SamplingParams", "SamplerChain"]


@functools.cache
def _token_data() -> np.dtype:
    """The NumPy mirror of struct llama_token_data {llama_token id; float logit; float p;}."""
    dtype = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
    assert dtype.itemsize == ctypes.sizeof(C.llama_token_data)
    return dtype

_ids: Dict[int, npt.NDArray[np.int32]] = {}
_SHORTLIST = 64  # candidates tried under the grammar before the whole vocabulary


def _arange(n: int) -> npt.NDArray[np.int32]:
    ids = _ids.get(n)
    if ids is None:
        ids = _ids[n] = np.arange(n, dtype=np.int32)
    return ids


@dataclass
class SamplingParams:
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    penalty_last_n: int = 64
    mirostat_mode: int = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    seed: int = C.LLAMA_DEFAULT_SEED
    logit_bias: Optional[Dict[int, float]] = None
    grammar: Optional[LlamaGrammar] = None

    @property
    def uses_penalties(self) -> bool:
        return self.repeat_penalty != 1.0 or self.frequency_penalty != 0.0 or self.presence_penalty != 0.0


def _check_number(name: str, value: object, kind: type = float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise TypeError(f"{name} must be {'a number' if kind is float else 'an integer'}, not {type(value).__name__}")


class SamplerChain:
    """An owned ``llama_sampler`` chain. ``sample()`` picks and accepts a token natively."""

    def __init__(self, model: LlamaModel, params: SamplingParams):
        for name in ("temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "frequency_penalty",
                     "presence_penalty", "mirostat_tau", "mirostat_eta"):
            _check_number(name, getattr(params, name))
        for name in ("top_k", "mirostat_mode", "seed", "penalty_last_n"):
            _check_number(name, getattr(params, name), int)
        self.params = params
        self._penalties: Optional[int] = None  # the penalties sampler inside the chain
        self._grammar: Optional[object] = None  # grammar sampler, kept outside the chain (see sample())
        self._cur: Optional[npt.NDArray[np.void]] = None  # reusable candidates array (grammar path)
        self.ptr = C.llama_sampler_chain_init(C.llama_sampler_chain_default_params())
        try:
            self._build(model, params)
        except BaseException:
            self.close()
            raise

    def _add(self, sampler: object, what: str) -> None:
        if not sampler:
            raise ValueError(f"llama.cpp could not create the {what} sampler; check its parameters")
        C.llama_sampler_chain_add(self.ptr, sampler)

    def _build(self, model: LlamaModel, p: SamplingParams) -> None:
        n_vocab = model.n_vocab()
        seed = p.seed & 0xFFFFFFFF
        if p.logit_bias:
            items = [(int(k), float(v)) for k, v in p.logit_bias.items()]
            for tok, _ in items:
                if not 0 <= tok < n_vocab:
                    raise ValueError(f"logit_bias names token {tok}, outside the vocabulary (0..{n_vocab - 1})")
            arr = (C.llama_logit_bias * len(items))(*[C.llama_logit_bias(t, b) for t, b in items])
            self._add(C.llama_sampler_init_logit_bias(n_vocab, len(items), arr), "logit_bias")
        if p.uses_penalties:
            self._add(C.llama_sampler_init_penalties(n_vocab, p.penalty_last_n, p.repeat_penalty, p.frequency_penalty,
                                                     p.presence_penalty), "penalties")
            self._penalties = C.llama_sampler_chain_get(self.ptr, C.llama_sampler_chain_n(self.ptr) - 1)
        if p.grammar is not None:
            text = p.grammar._grammar.encode("utf-8")
            root = p.grammar._root.encode("utf-8")
            grammar = C.llama_sampler_init_grammar(model.vocab, text, root)
            if not grammar:
                raise ValueError("llama.cpp rejected the grammar (see the log for where); check it with LlamaGrammar.from_string")
            self._grammar = grammar
            self._n_vocab = n_vocab
        t = p.temperature
        if t < 0:
            self._add(C.llama_sampler_init_dist(seed), "dist")
        elif t == 0:
            self._add(C.llama_sampler_init_greedy(), "greedy")
        elif p.mirostat_mode == 1:
            self._add(C.llama_sampler_init_temp(t), "temp")
            self._add(C.llama_sampler_init_mirostat(n_vocab, seed, p.mirostat_tau, p.mirostat_eta, 100), "mirostat")
        elif p.mirostat_mode == 2:
            self._add(C.llama_sampler_init_temp(t), "temp")
            self._add(C.llama_sampler_init_mirostat_v2(seed, p.mirostat_tau, p.mirostat_eta), "mirostat_v2")
        else:
            self._add(C.llama_sampler_init_top_k(p.top_k), "top_k")
            self._add(C.llama_sampler_init_typical(p.typical_p, 1), "typical")
            self._add(C.llama_sampler_init_top_p(p.top_p, 1), "top_p")
            self._add(C.llama_sampler_init_min_p(p.min_p, 1), "min_p")
            self._add(C.llama_sampler_init_temp(t), "temp")
            self._add(C.llama_sampler_init_dist(seed), "dist")

    def prime_penalties(self, tokens: Sequence[int] | npt.NDArray[np.intc]) -> None:
        """Let the repetition penalties see the prompt's last tokens (as llama.cpp's own tools do)."""
        if self._penalties is None:
            return
        for tok in tokens[-self.params.penalty_last_n:] if self.params.penalty_last_n > 0 else tokens:
            C.llama_sampler_accept(self._penalties, int(tok))

    @property
    def constrained(self) -> bool:
        """Whether a grammar takes part (sampling then needs more than one native call)."""
        return self._grammar is not None

    def sample(self, ctx: int, idx: int = -1) -> int:
        """Pick and accept the next token from the context's logits row ``idx``."""
        if self._grammar is None:
            return C.llama_sampler_sample(self.ptr, ctx, idx)
        return self._sample_constrained(as_logits_view(C.llama_get_logits_ith(ctx, idx), self._n_vocab))

    def sample_logits(self, logits: npt.NDArray[np.single]) -> int:
        """Pick (and accept) a token from a logits row held in Python instead of the context."""
        if self._grammar is not None:
            return self._sample_constrained(logits)
        cur = self._candidates(logits)
        return self._pick(cur, accept=True)

    def _candidates(self, logits: npt.NDArray[np.single]) -> npt.NDArray[np.void]:
        n = len(logits)
        if self._cur is None or len(self._cur) != n:
            self._cur = np.empty(n, dtype=_token_data())
        cur = self._cur
        cur["id"] = _arange(n)
        cur["logit"] = logits
        cur["p"] = 0.0
        return cur

    def _apply(self, sampler: object, cur: npt.NDArray[np.void]) -> C.llama_token_data_array:
        arr = C.llama_token_data_array(cur.ctypes.data_as(ctypes.POINTER(C.llama_token_data)), len(cur), -1, False)
        C.llama_sampler_apply(sampler, ctypes.byref(arr))
        return arr

    def _pick(self, cur: npt.NDArray[np.void], accept: bool) -> int:
        arr = self._apply(self.ptr, cur)
        if not 0 <= arr.selected < arr.size:
            raise RuntimeError("the sampler chain selected no token")
        token = int(arr.data[arr.selected].id)
        if accept:
            C.llama_sampler_accept(self.ptr, token)
        return token

    def _sample_constrained(self, logits: npt.NDArray[np.single]) -> int:
        """Sample under the grammar the way llama.cpp's own tools do, only cheaper.

        Applying a grammar to the whole vocabulary costs milliseconds per token;
        checking one token costs microseconds. So: sample without the grammar and
        check that one token. Only when the grammar rejects it, constrain and
        sample again: first among the most likely candidates, which gives the very
        token a full-vocabulary pass would whenever enough of them are allowed
        (one for greedy, ``top_k`` for top-k sampling), else over everything.
        """
        cur = self._candidates(logits)
        token = self._pick(cur, accept=False)
        if not self._allowed(token):
            token = self._resample_constrained(logits)
        C.llama_sampler_accept(self._grammar, token)
        C.llama_sampler_accept(self.ptr, token)
        return token

    def _allowed(self, token: int) -> bool:
        one = np.empty(1, dtype=_token_data())
        one["id"], one["logit"], one["p"] = token, 1.0, 0.0
        self._apply(self._grammar, one)
        return bool(np.isfinite(one["logit"][0]))

    def _needed_survivors(self) -> Optional[int]:
        """How many allowed tokens among the top candidates make a shortlist exact (None: never)."""
        p = self.params
        if p.temperature == 0:
            return 1
        if p.temperature > 0 and p.mirostat_mode == 0 and 0 < p.top_k <= _SHORTLIST:
            return p.top_k
        return None

    def _resample_constrained(self, logits: npt.NDArray[np.single]) -> int:
        need = self._needed_survivors()
        if need is not None and len(logits) > _SHORTLIST and not self.params.logit_bias and not self.params.uses_penalties:
            top = np.argpartition(logits, -_SHORTLIST)[-_SHORTLIST:]
            short = np.empty(_SHORTLIST, dtype=_token_data())
            short["id"] = top
            short["logit"] = logits[top]
            short["p"] = 0.0
            self._apply(self._grammar, short)
            if int(np.isfinite(short["logit"]).sum()) >= need:
                return self._pick(short, accept=False)
        cur = self._candidates(logits)
        self._apply(self._grammar, cur)
        return self._pick(cur, accept=False)

    def accept(self, token: int) -> None:
        C.llama_sampler_accept(self.ptr, token)

    def reset(self) -> None:
        C.llama_sampler_reset(self.ptr)
        if self._grammar is not None:
            C.llama_sampler_reset(self._grammar)

    def close(self) -> None:
        if self.ptr:
            C.llama_sampler_free(self.ptr)
        if self._grammar is not None:
            C.llama_sampler_free(self._grammar)
        self.ptr = None
        self._grammar = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def as_logits_view(ptr: ctypes._Pointer[ctypes.c_float], n_vocab: int) -> npt.NDArray[np.single]:
    """A zero-copy NumPy view of one logits row."""
    return np.ctypeslib.as_array(ptr, shape=(n_vocab,))
