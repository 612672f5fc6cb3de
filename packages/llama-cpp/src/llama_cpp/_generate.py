"""The single-sequence token loop, as functions of an engine and its default sequence.

Three layers, each calling the one below:

* **step**: `decode_one` (the per-token hot path, one native call) and
  `evaluate` (chunks of ``n_batch`` tokens) put tokens into the context;
* **stream**: `generate` yields sampled tokens, reusing the KV cells of
  the prefix a new prompt shares with the evaluated one
  (`prepare_prefix`), with speculative decoding (`speculate`)
  when a draft model is given;
* **complete**: `llama_cpp._single_completion` turns those tokens into
  completion text and dicts.

Sampling is the native sampler chain of `llama_cpp._sampling`; Python
logits processors and stopping criteria run only when given. Every function
here expects the caller to hold the engine (`Engine.busy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generator, List, Optional, Sequence

from . import llama_cpp as C
from ._errors import context_overflow, decode_error
from ._numpy import np
from ._sampling import SamplerChain, SamplingParams, as_logits_view
from ._utils import common_prefix_length

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._engine import Engine
    from ._logits import LogitsProcessorList, StoppingCriteriaList
    from ._sequence import Sequence as Seq
    from .llama_speculative import LlamaDraftModel

__all__ = ["decode_one", "evaluate", "check_tokens", "prepare_prefix", "sample_once", "generate", "speculate"]


# ------------------------------------------------------------ step
def decode_one(engine: Engine, seq: Seq, token: int) -> None:
    """Evaluate one token after the sequence's evaluated ones (the per-token hot path)."""
    n = seq.n_tokens
    if n >= engine.n_ctx:
        raise context_overflow(n + 1, engine.n_ctx)
    engine.one[0] = token
    ctx = engine.handle()
    rc = C.llama_decode(ctx, engine.one_batch)
    if rc != 0:
        seq.logits_fresh = False
        raise decode_error(rc, 1)
    seq.input_ids[n] = token
    seq.n_tokens = n + 1
    seq.logits_fresh = True
    if seq.logits_all:
        seq.grow_scores(n + 1)
        seq.scores[n, :] = as_logits_view(C.llama_get_logits_ith(ctx, -1), engine.n_vocab)


def check_tokens(engine: Engine, tokens: Sequence[int]) -> List[int]:
    """``tokens`` as a list of valid token ids of this model."""
    arr = np.asarray(tokens)
    if arr.size and (arr.ndim != 1 or arr.dtype.kind not in "iu"):
        raise TypeError("tokens must be a sequence of int token ids")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= engine.n_vocab):
        bad = next(int(t) for t in arr if not 0 <= int(t) < engine.n_vocab)
        raise ValueError(f"token {bad} is not a token id of this model (0..{engine.n_vocab - 1})")
    return arr.astype(np.intc).tolist()


def evaluate(engine: Engine, seq: Seq, tokens: List[int], all_outputs: bool = False,
             explicit_positions: bool = False) -> None:
    """Evaluate ``tokens`` after the sequence's evaluated ones.

    ``all_outputs`` keeps every position's logits for this call;
    ``explicit_positions`` never lets llama.cpp derive a position (after an
    M-RoPE image the last stored position is not ``n_tokens - 1``).
    """
    ctx = engine.require_open()
    batch = engine.batch
    assert batch is not None
    if not tokens:
        return
    if seq.n_tokens + len(tokens) > engine.n_ctx:
        raise context_overflow(seq.n_tokens + len(tokens), engine.n_ctx)
    ctx.kv_cache_seq_rm(seq.seq_id, seq.n_tokens, -1)
    if len(tokens) == 1 and not seq.logits_all and not explicit_positions:
        decode_one(engine, seq, tokens[0])
        return
    for i in range(0, len(tokens), engine.n_batch):
        chunk = tokens[i: i + engine.n_batch]
        n_past = seq.n_tokens
        batch.set_batch(chunk, n_past=n_past, logits_all=seq.logits_all or all_outputs, seq_id=seq.seq_id)
        try:
            ctx.decode(batch)
        except RuntimeError:
            seq.logits_fresh = False
            raise
        seq.input_ids[n_past: n_past + len(chunk)] = chunk
        if seq.logits_all:
            rows = np.ctypeslib.as_array(ctx.get_logits(), shape=(len(chunk), engine.n_vocab))
            seq.grow_scores(n_past + len(chunk))
            seq.scores[n_past: n_past + len(chunk), :] = rows
        seq.n_tokens = n_past + len(chunk)
    seq.logits_fresh = True


# ------------------------------------------------------------ sampling helpers
def apply_logits_processor(engine: Engine, seq: Seq, logits_processor: Optional[LogitsProcessorList],
                           idx: int = -1) -> None:
    """Run Python logits processors on the context's logits row ``idx``, in place."""
    if not logits_processor:
        return
    row = as_logits_view(C.llama_get_logits_ith(engine.handle(), idx), engine.n_vocab)
    new = logits_processor(seq.tokens, row)
    if new is not row:
        row[:] = new


def stop_now(engine: Engine, seq: Seq, criteria: StoppingCriteriaList, token: int, idx: int = -1,
             logits: Optional[npt.NDArray[np.single]] = None) -> bool:
    """Ask the stopping criteria about ``token`` (sampled from row ``idx``, or from ``logits``)."""
    ids = np.append(seq.tokens, np.intc(token)).astype(np.intc, copy=False)
    if logits is None:
        logits = as_logits_view(C.llama_get_logits_ith(engine.handle(), idx), engine.n_vocab)
    return bool(criteria(ids, logits))


def sample_once(engine: Engine, seq: Seq, params: SamplingParams, logits_processor: Optional[LogitsProcessorList],
                idx: Optional[int]) -> int:
    """``Llama.sample``: pick a token from the last evaluated position (or position ``idx``)."""
    engine.require_open()
    if seq.n_tokens == 0 or not seq.logits_fresh:
        raise RuntimeError("sample() needs logits: evaluate tokens with eval() first")
    chain = SamplerChain(engine.model, params)  # type: ignore[arg-type]
    try:
        chain.prime_penalties(seq.tokens)
        row = -1 if idx is None else idx - seq.n_tokens
        apply_logits_processor(engine, seq, logits_processor, row)
        return chain.sample(engine.handle(), row)
    finally:
        chain.close()


# ------------------------------------------------------------ stream
def prepare_prefix(engine: Engine, seq: Seq, tokens: List[int], reset: bool, have_logits: bool = False) -> List[int]:
    """Reuse what is evaluated: return the tokens still to evaluate (empty: sample now)."""
    if reset and seq.n_tokens > 0:
        common = common_prefix_length(seq.tokens, tokens)
        consumed = common == len(tokens)
        if consumed and seq.n_tokens == len(tokens) and (seq.logits_fresh or have_logits):
            return []
        keep = common - 1 if consumed else common
        ctx = engine.ctx
        assert ctx is not None
        if keep > 0 and ctx.memory and C.llama_memory_seq_rm(ctx.memory, seq.seq_id, keep, -1):
            seq.n_tokens = keep
            seq.logits_fresh = False
            return tokens[keep:]
        engine.reset_default()
    elif reset:
        engine.reset_default()
    return tokens


def generate(
    engine: Engine,
    seq: Seq,
    tokens: List[int],
    params: SamplingParams,
    reset: bool,
    logits_processor: Optional[LogitsProcessorList],
    stopping_criteria: Optional[StoppingCriteriaList],
    draft_model: Optional[LlamaDraftModel] = None,
    prepared: bool = False,
) -> Generator[int, Optional[Sequence[int]], None]:
    """Yield tokens continuing ``tokens`` until the caller stops (endless; the caller holds the engine).

    Tokens sent with ``.send(seq)`` are evaluated after the yielded one.
    ``prepared``: ``tokens`` is what the context already holds (a media prompt
    just evaluated it; image positions have negative ids), so it is not checked
    as token ids.
    """
    engine.require_open()
    if not prepared:
        tokens = check_tokens(engine, tokens)
    if seq.sampler is not None:
        seq.sampler.close()
    chain = seq.sampler = SamplerChain(engine.model, params)  # type: ignore[arg-type]
    # logits saved by save_state(): sampling resumes from them without evaluating anything again
    restored, seq.restored_logits = seq.restored_logits, None
    pending: Optional[List[int]] = prepare_prefix(engine, seq, tokens, reset, restored is not None)
    if pending:
        restored = None
    chain.prime_penalties([t for t in tokens if t >= 0] if prepared else tokens)
    ctx = engine.handle()
    sample = C.llama_sampler_sample
    chain_ptr = chain.ptr
    native_only = not chain.constrained  # one native call per token
    while pending is not None:
        if draft_model is not None and pending:
            pending = yield from speculate(engine, seq, draft_model, pending, chain, logits_processor,
                                           stopping_criteria)
            continue
        if len(pending) == 1 and not seq.logits_all:
            decode_one(engine, seq, pending[0])
        elif pending:
            evaluate(engine, seq, pending)
        if restored is not None:
            row = restored.copy()
            if logits_processor:
                row = np.asarray(logits_processor(seq.tokens, row), dtype=np.single)
            token = chain.sample_logits(row)
            restored = None
            if stopping_criteria is not None and stop_now(engine, seq, stopping_criteria, token, logits=row):
                return
        else:
            if logits_processor:
                apply_logits_processor(engine, seq, logits_processor)
            token = sample(chain_ptr, ctx, -1) if native_only else chain.sample(ctx, -1)
            if stopping_criteria is not None and stop_now(engine, seq, stopping_criteria, token):
                return
        sent = yield token
        pending = [token, *sent] if sent else [token]


def speculate(
    engine: Engine,
    seq: Seq,
    draft_model: LlamaDraftModel,
    pending: List[int],
    chain: SamplerChain,
    logits_processor: Optional[LogitsProcessorList],
    stopping_criteria: Optional[StoppingCriteriaList],
) -> Generator[int, Optional[Sequence[int]], Optional[List[int]]]:
    """One round of speculative decoding; returns the next tokens to evaluate (None: stop).

    The last pending token and the draft model's proposals are decoded in one
    batch; positions are then sampled in order, and the proposals are kept up
    to the first one the model disagrees with, so the output is what plain
    decoding would give.
    """
    ctx = engine.require_open()
    if len(pending) > 1:
        evaluate(engine, seq, pending[:-1])
    last = pending[-1]
    history = np.append(seq.tokens, np.intc(last)).astype(np.intc, copy=False)
    proposal = [int(t) for t in draft_model(history)]
    room = min(engine.n_ctx - seq.n_tokens - 1, engine.n_batch - 1)
    proposal = proposal[: max(room, 0)]
    bad = next((i for i, t in enumerate(proposal) if not 0 <= t < engine.n_vocab), None)
    if bad is not None:  # a draft is a contiguous run: keep it up to the first id that is no token
        proposal = proposal[:bad]
    base = seq.n_tokens  # position of `last`
    evaluate(engine, seq, [last, *proposal], all_outputs=True)
    for j in range(len(proposal) + 1):
        if logits_processor:
            seq.n_tokens = base + 1 + j
            apply_logits_processor(engine, seq, logits_processor, j)
        token = chain.sample(engine.handle(), j)
        valid = base + 1 + j  # `last` and the first j proposals are right
        seq.n_tokens = valid
        if stopping_criteria is not None and stop_now(engine, seq, stopping_criteria, token, j):
            ctx.kv_cache_seq_rm(seq.seq_id, valid, -1)
            seq.logits_fresh = False
            return None
        accepted = j < len(proposal) and proposal[j] == token
        if not accepted:
            ctx.kv_cache_seq_rm(seq.seq_id, valid, -1)
            seq.logits_fresh = False
            sent = yield token
            return [token, *sent] if sent else [token]
        seq.n_tokens = valid + 1  # the accepted proposal is already in the context
        sent = yield token
        if sent:
            ctx.kv_cache_seq_rm(seq.seq_id, seq.n_tokens, -1)
            seq.logits_fresh = False
            return list(sent)
    return None  # unreachable: the last row is never "accepted"
