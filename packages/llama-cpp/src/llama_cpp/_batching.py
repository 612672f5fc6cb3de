"""Continuous batching: many sequences decoded together in one context.

This is the layer under ``Llama``'s batched calls (a list of prompts, ``n``
choices, ``best_of``, and concurrent calls from several threads on a
``Llama(n_seq_max=N)``) and under the OpenAI-compatible server, whose
requests all become sequences of one `BatchGenerator`.

`BatchGenerator` works in steps. Between steps, requests can be
`insert`-ed and `cancel`-led. Each
`step`:

1. admits waiting requests into free sequence ids (first come, first served;
   requests that share a prompt are admitted together when there is room, and
   only the first of them evaluates it);
2. builds one ``llama_batch``: one token for every sequence that is decoding,
   then prompt chunks of newly admitted ones in the room left (at most
   ``n_batch`` tokens in all, so a long prompt is spread over several steps and
   never stalls the others);
3. calls ``llama_decode`` once;
4. samples every sequence whose prompt is complete from its own logits row
   with its own native sampler chain (grammar, logit bias, seed, penalties),
   after its Python logits processors if it has any, and asks its stopping
   criteria; siblings waiting on a shared prompt copy its KV cells
   (``llama_memory_seq_cp``) and sample from the same row;
5. frees the KV cells of every finished sequence at once
   (``llama_memory_seq_rm``), so a waiting request can take its place.

When the KV cache is full, the newest sequence is preempted: its cells are
freed and it waits to be evaluated again from its tokens so far; the output
it already produced stays valid, since its sampler chain is kept.

`Scheduler` makes a generator safe to share between threads without a
thread of its own: every caller waits for its own events, and whoever finds
none runs the next step (for everyone) under the ``Llama``'s lock.

The generator must be used with the owning ``Llama``'s lock held; it never
takes it itself.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from . import llama_cpp as C
from ._completion import log_softmax, top_logprobs_entry
from ._errors import LlamaClosedError, decode_error
from ._internals import LlamaBatch
from ._numpy import np
from ._sampling import as_logits_view
from ._sequence import GenerationRequest, SequenceState, TokenEvent

if TYPE_CHECKING:
    import contextlib

    from ._internals import LlamaContext, LlamaModel

__all__ = ["BatchGenerator", "Scheduler", "GenerationRequest", "TokenEvent"]


class BatchGenerator:
    """Decode many sequences of one context together (see the module docstring).

    Args:
        ctx: The context; its ``n_seq_max`` must cover ``seq_ids``.
        model: The model (vocabulary and sampler construction).
        seq_ids: The sequence ids this generator may use.
        n_batch: The most tokens one ``llama_decode`` call may take.
        piece: Token id -> its text, for ``top_logprobs`` keys.
        is_eog: Whether a token ends generation.
        reclaim: Called when the KV cache is full and only one sequence runs; returns True if it
            freed cells (the ``Llama``'s own single-sequence cache, say).
        on_claim: Called with a sequence id just before a request takes it (the ``Llama`` forgets
            what its own sequence held there).
    """

    def __init__(
        self,
        ctx: LlamaContext,
        model: LlamaModel,
        seq_ids: Sequence[int],
        n_batch: int,
        piece: Callable[[int], str],
        is_eog: Callable[[int], bool],
        reclaim: Optional[Callable[[], bool]] = None,
        on_claim: Optional[Callable[[int], None]] = None,
    ) -> None:
        self._ctx = ctx
        self._model = model
        self._n_vocab = model.n_vocab()
        self._free: List[int] = sorted(seq_ids)  # pop() hands out the highest id first: 0 is the Llama's own
        self._n_batch = n_batch
        self._piece = piece
        self._is_eog = is_eog
        self._reclaim = reclaim
        self._on_claim = on_claim
        self._batch = LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1)
        self._waiting: Deque[SequenceState] = deque()
        self._running: List[SequenceState] = []
        self._by_uid: Dict[int, SequenceState] = {}
        self._admissions = 0
        self.closed = False
        self._taken: Dict[int, int] = {}  # uid -> tokens it put in the current batch

    # ------------------------------------------------------------ requests
    def insert(self, requests: Iterable[GenerationRequest]) -> List[int]:
        """Queue requests; returns their uids (events carry them)."""
        uids = []
        for request in requests:
            if not request.tokens:
                raise ValueError("a generation request needs at least one prompt token")
            state = SequenceState(request)
            self._waiting.append(state)
            self._by_uid[state.uid] = state
            uids.append(state.uid)
        return uids

    def cancel(self, uids: Iterable[int]) -> None:
        """Stop these requests now (waiting or running) and free their KV cells."""
        for uid in uids:
            state = self._by_uid.get(uid)
            if state is None:
                continue
            if state in self._waiting:
                self._waiting.remove(state)
            self._finish(state)

    @property
    def has_work(self) -> bool:
        """Whether any request is waiting or running."""
        return bool(self._waiting or self._running)

    def uses(self, seq_id: int) -> bool:
        """Whether ``seq_id`` is held by a running sequence."""
        return any(s.seq_id == seq_id for s in self._running)

    def close(self) -> None:
        self.closed = True
        for state in list(self._by_uid.values()):
            self._finish(state, free_cells=False)
        self._waiting.clear()
        self._batch.close()

    # ------------------------------------------------------------ bookkeeping
    def _finish(self, state: SequenceState, free_cells: bool = True) -> None:
        state.finished = True
        if state in self._running:
            self._running.remove(state)
        self._release(state, free_cells)
        state.close()
        self._by_uid.pop(state.uid, None)

    def _release(self, state: SequenceState, free_cells: bool = True) -> None:
        """Give back ``state``'s sequence id (and its KV cells); siblings waiting on its prompt evaluate it themselves."""
        if state.seq_id is not None:
            if free_cells:
                self._ctx.kv_cache_seq_rm(state.seq_id, 0, -1)
            self._free.append(state.seq_id)
            self._free.sort()
            state.seq_id = None
        state.n_past = 0
        for other in self._running:
            if other.leader is state:
                other.leader = None

    def _admit(self) -> None:
        while self._waiting and self._free:
            state = self._waiting.popleft()
            self._start(state)
            share = state.request.share_prompt
            if share is None or state.n_past:
                continue
            # siblings of the same prompt start now too, and copy its KV once it is evaluated
            for other in [w for w in self._waiting if w.request.share_prompt == share and w.tokens == state.tokens]:
                if not self._free:
                    break
                self._waiting.remove(other)
                self._start(other)
                other.leader = state

    def _start(self, state: SequenceState) -> None:
        state.seq_id = self._free.pop()
        if self._on_claim is not None:
            self._on_claim(state.seq_id)
        state.n_past = 0
        self._admissions += 1
        state.admitted = self._admissions
        self._ctx.kv_cache_seq_rm(state.seq_id, 0, -1)
        state.ensure_chain(self._model)
        self._running.append(state)

    def _preempt(self) -> bool:
        """Free the newest sequence's cells and queue it again; False if only one is running."""
        if len(self._running) < 2:
            return bool(self._reclaim and self._reclaim())
        victim = max(self._running, key=lambda s: s.admitted)
        self._running.remove(victim)
        self._release(victim)
        self._waiting.appendleft(victim)
        return True

    # ------------------------------------------------------------ the step
    def _fill(self) -> List[Tuple[SequenceState, int]]:
        """Put this step's tokens in the batch; returns the sequences that get logits, with their batch index."""
        batch = self._batch
        tok, pos, nseq, want = batch._token, batch._pos, batch._n_seq_id, batch._logits
        seq_id = batch.batch.seq_id
        assert tok is not None
        n = 0
        taken = self._taken = {}
        sampled: List[Tuple[SequenceState, int]] = []
        decoding: List[SequenceState] = []  # one sampled token to feed
        prefill: List[SequenceState] = []  # (the rest of) a prompt to feed
        for s in self._running:
            if s.leader is None:
                (decoding if s.pending == 1 and s.n_past > 0 else prefill).append(s)
        for s in decoding:
            tok[n] = s.tokens[-1]
            pos[n] = s.n_past
            seq_id[n][0] = s.seq_id
            want[n] = 1
            sampled.append((s, n))
            n += 1
            taken[s.uid] = 1
        for s in sorted(prefill, key=lambda s: s.admitted):
            room = self._n_batch - n
            if room <= 0:
                break
            take = min(room, s.pending)
            chunk = s.tokens[s.n_past: s.n_past + take]
            tok[n: n + take] = chunk
            pos[n: n + take] = np.arange(s.n_past, s.n_past + take, dtype=np.int32)
            want[n: n + take] = 0
            for i in range(n, n + take):
                seq_id[i][0] = s.seq_id
            n += take
            taken[s.uid] = take
            if take == s.pending:
                want[n - 1] = 1
                sampled.append((s, n - 1))
        nseq[:n] = 1
        batch.batch.n_tokens = n
        return sampled

    def _advance(self) -> None:
        """After a successful decode: the batch's tokens are in the KV cache."""
        for s in self._running:
            s.n_past += self._taken.get(s.uid, 0)

    def step(self) -> List[TokenEvent]:
        """Admit, decode once, sample; the events of this step (see the module docstring)."""
        self._admit()
        while True:
            sampled = self._fill()
            n = self._batch.batch.n_tokens
            if n == 0:
                return []
            rc = C.llama_decode(self._ctx.ctx, self._batch.batch)
            if rc == 0:
                break
            for s in self._running:  # the failed batch left nothing behind for its new positions
                self._ctx.kv_cache_seq_rm(s.seq_id, s.n_past, -1)  # type: ignore[arg-type]
            if rc == 1 and self._preempt():
                continue
            raise decode_error(rc, n)
        self._advance()
        ctx = self._ctx.ctx
        assert ctx is not None
        events: List[TokenEvent] = []
        for s, row in sampled:
            followers = [f for f in self._running if f.leader is s]
            for f in followers:
                C.llama_memory_seq_cp(self._ctx.memory, s.seq_id, f.seq_id, -1, -1)
                f.n_past = s.n_past
                f.leader = None
            shared = bool(followers)
            for member in (s, *followers):
                events.append(self._sample(member, ctx, row, shared))
        for s in [s for s in self._running if s.finished]:
            self._finish(s)
        return events

    def _sample(self, s: SequenceState, ctx: int, row: int, shared: bool) -> TokenEvent:
        request = s.request
        chain = s.chain
        assert chain is not None
        logits: Optional[np.ndarray] = None
        if request.logits_processor or request.logprobs is not None or request.score or request.stopping_criteria:
            view = as_logits_view(C.llama_get_logits_ith(ctx, row), self._n_vocab)
            logits = view.copy() if shared else view
            if request.logits_processor:
                new = request.logits_processor(s.ids(), logits)
                if new is not logits:
                    logits[:] = new
        if logits is not None and (shared or request.logits_processor):
            token = chain.sample_logits(logits)  # the context's row is shared or was not modified
        else:
            token = chain.sample(ctx, row)
        logprob = top = None
        if request.logprobs is not None or request.score:
            assert logits is not None
            lp = log_softmax(logits)
            if request.logprobs is not None:
                logprob, top = top_logprobs_entry(lp, token, request.logprobs, self._piece)
            else:
                logprob = float(lp[token])
        if self._is_eog(token):
            s.finished = True
            return TokenEvent(s.uid, None, "stop")
        if request.stopping_criteria is not None:
            if logits is None:
                logits = as_logits_view(C.llama_get_logits_ith(ctx, row), self._n_vocab)
            if request.stopping_criteria(s.ids(token), logits):
                s.finished = True
                return TokenEvent(s.uid, None, "stop")
        s.n_generated += 1
        s.tokens.append(token)
        finish = None
        if s.n_generated >= request.max_tokens:
            s.finished = True
            finish = "length"
        return TokenEvent(s.uid, token, finish, logprob, top)


class Scheduler:
    """Share a `BatchGenerator` between threads (see the module docstring).

    Args:
        generator: The generator.
        hold: A context manager factory that holds the owning ``Llama`` for one step.
    """

    def __init__(self, generator: BatchGenerator, hold: Callable[[], contextlib.AbstractContextManager[None]]) -> None:
        self.generator = generator
        self._hold = hold
        self._queues: Dict[int, Deque[TokenEvent]] = {}
        self._errors: Dict[int, BaseException] = {}
        self._mutex = threading.Lock()  # guards the dicts above and insert/cancel against a running step

    def submit(self, requests: Sequence[GenerationRequest]) -> List[int]:
        """Queue requests; their events are read with `events`."""
        with self._mutex:
            uids = self.generator.insert(requests)
            for uid in uids:
                self._queues[uid] = deque()
        return uids

    def cancel(self, uids: Iterable[int]) -> None:
        """Stop these requests; takes effect before the next step."""
        uids = list(uids)
        with self._hold():
            with self._mutex:
                self.generator.cancel(uids)
                for uid in uids:
                    self._queues.pop(uid, None)
                    self._errors.pop(uid, None)

    def run_until_free(self, busy: Callable[[], bool]) -> None:
        """Step (with the owner already held) until ``busy()`` is False; for callers that need a sequence id."""
        while busy() and self.generator.has_work:
            self._step_locked()

    def _step_locked(self) -> None:
        with self._mutex:
            try:
                events = self.generator.step()
            except BaseException as exc:  # every request in flight learns of it, then it is raised here too
                for uid in list(self._queues):
                    self._errors[uid] = exc
                self.generator.cancel(list(self._queues))
                raise
            for event in events:
                queue = self._queues.get(event.uid)
                if queue is None:
                    continue
                queue.append(event)

    def events(self, uids: Sequence[int]) -> Iterator[TokenEvent]:
        """The events of these requests as they are produced, until each has finished or was cancelled."""
        live = [uid for uid in uids if uid in self._queues]
        while live:
            for uid in list(live):
                queue = self._queues.get(uid)
                if queue is None:  # cancelled
                    live.remove(uid)
                    continue
                while queue:
                    event = queue.popleft()
                    if event.finish_reason is not None:
                        live.remove(uid)
                        with self._mutex:
                            self._queues.pop(uid, None)
                    yield event
                    if event.finish_reason is not None:
                        break
            for uid in live:
                error = self._errors.pop(uid, None)
                if error is not None:
                    for other in live:
                        self._queues.pop(other, None)
                        self._errors.pop(other, None)
                    raise error
            if not live or any(self._queues.get(uid) for uid in live):
                continue
            with self._hold():
                if any(self._queues.get(uid) for uid in live) or any(uid in self._errors for uid in live):
                    continue  # another thread's step produced something for us meanwhile
                if not all(uid in self._queues for uid in live):
                    continue  # cancelled meanwhile
                if not self.generator.has_work:  # nothing will ever come: cancelled, or the Llama was closed
                    for uid in live:
                        self._queues.pop(uid, None)
                    if self.generator.closed:
                        raise LlamaClosedError("this Llama is closed; create a new one")
                    return
                try:
                    self._step_locked()
                except BaseException:
                    if any(uid in self._errors for uid in live):
                        continue  # reported through the loop above, like everyone else's
                    raise
