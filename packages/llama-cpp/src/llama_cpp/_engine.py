"""What a ``Llama`` owns natively: the model, the context, LoRA, the batches, and the lock.

`Engine` loads the model and creates the context from parameter structs
(see `llama_cpp._params`), and frees everything exactly once in
`Engine.close`. It holds:

* the lock every call takes (`Engine.hold` for one call, stream or
  batch step; `Engine.busy` for the single-sequence API, which first
  lets batched requests off the sequence it needs);
* the default `Sequence` that ``eval``,
  ``sample``, ``generate`` and the state methods work on;
* the `Scheduler` over all ``n_seq_max``
  sequences, for lists of prompts, ``n`` choices and concurrent callers.
"""

from __future__ import annotations

import contextlib
import threading
from contextlib import ExitStack
from typing import Dict, Iterator, Optional

from . import llama_cpp as C
from ._batching import BatchGenerator, Scheduler
from ._errors import LlamaClosedError
from ._internals import LlamaBatch, LlamaContext, LlamaModel
from ._params import resolve_n_ctx
from ._sequence import Sequence

__all__ = ["Engine", "DEFAULT_SEQUENCE"]

# The single-sequence API's sequence id. It must be 0: llama_batch_get_one (the one-token
# fast path) puts its token in sequence 0. Batches hand out the other ids first.
DEFAULT_SEQUENCE = 0


class Engine:
    """The native objects of one ``Llama`` (see the module docstring).

    Args:
        model_path: The GGUF file.
        model_params: ``llama_model_params``.
        context_params: ``llama_context_params`` (``n_ctx=0`` becomes the training context).
        n_batch: The requested batch size (bounded by ``n_ctx``).
        n_ubatch: The requested micro-batch size.
        n_seq_max: Sequences for batched requests.
        logits_all: Keep every evaluated position's logits in the default sequence.
        lora_path: A LoRA adapter to apply, if any.
        lora_scale: Its scale.
        verbose: Let llama.cpp log everything.
    """

    def __init__(
        self,
        model_path: str,
        model_params: C.llama_model_params,
        context_params: C.llama_context_params,
        n_batch: int,
        n_ubatch: int,
        n_seq_max: int,
        logits_all: bool,
        lora_path: Optional[str] = None,
        lora_scale: float = 1.0,
        verbose: bool = True,
    ) -> None:
        # what close() relies on comes first, so a failed constructor still cleans up
        self.stack = ExitStack()  # resources attached by others (a multimodal projector), freed before the model
        self.lock = threading.Lock()
        self.owner: Optional[int] = None
        self.model: Optional[LlamaModel] = None
        self.ctx: Optional[LlamaContext] = None
        self.batch: Optional[LlamaBatch] = None
        self.lora_adapter: Optional[int] = None
        self.scheduler: Optional[Scheduler] = None
        self.default: Optional[Sequence] = None
        self.pieces: Dict[int, bytes] = {}
        self.eog: Dict[int, bool] = {}

        self.model = LlamaModel(path_model=model_path, params=model_params, verbose=verbose)
        resolve_n_ctx(context_params, self.model.n_ctx_train(), n_batch, n_ubatch)
        self.n_batch = int(context_params.n_batch)
        self.ctx = LlamaContext(model=self.model, params=context_params, verbose=verbose)
        self.batch = LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=verbose)
        if lora_path:
            adapter = C.llama_adapter_lora_init(self.model.model, lora_path.encode("utf-8"))
            if not adapter:
                raise RuntimeError(f"Failed to initialize LoRA adapter from lora path: {lora_path}")
            self.lora_adapter = adapter
            if C.llama_set_adapter_lora(self.handle(), adapter, lora_scale) != 0:
                raise RuntimeError(f"Failed to set LoRA adapter from lora path: {lora_path}")
        self.n_ctx = self.ctx.n_ctx()
        self.n_vocab = self.model.n_vocab()
        self.logits_all = logits_all
        self.is_recurrent = bool(C.llama_model_is_recurrent(self.model.model))
        self.is_hybrid = bool(C.llama_model_is_hybrid(self.model.model))
        self.default = Sequence(DEFAULT_SEQUENCE, self.n_ctx, self.n_vocab, logits_all)
        self.one = (C.llama_token * 1)()
        self.one_batch = C.llama_batch_get_one(self.one, 1)  # built once: it only points at `one`
        self.scheduler = Scheduler(
            BatchGenerator(self.ctx, self.model, range(n_seq_max), self.n_batch, self.piece_text, self.is_eog,
                           reclaim=self._reclaim_default, on_claim=self._on_claim),
            self.hold,
        )

    # ------------------------------------------------------------ the lock
    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the engine: one call, one stream, or one batch step.

        A plain lock, so a stream may be finished from another thread than the
        one that started it (servers iterate streams in thread pools).
        """
        if not self.lock.acquire(blocking=False):
            if self.owner == threading.get_ident():
                raise RuntimeError(
                    "this Llama is busy with an unfinished stream started in this thread; "
                    "exhaust or close() that stream before calling it again"
                )
            self.lock.acquire()
        self.owner = threading.get_ident()
        try:
            yield
        finally:
            self.owner = None
            self.lock.release()

    @contextlib.contextmanager
    def busy(self, exclusive: bool = False) -> Iterator[None]:
        """Hold the engine for the single-sequence API.

        Batched requests in flight keep their own sequences; one that holds the
        default sequence is stepped to its end first, and with ``exclusive``
        (whole-context operations: state, embeddings, the prompt cache) all are.
        """
        with self.hold():
            scheduler = self.scheduler
            if scheduler is not None and scheduler.generator.has_work:
                generator = scheduler.generator
                scheduler.run_until_free(
                    (lambda: generator.has_work) if exclusive else (lambda: generator.uses(DEFAULT_SEQUENCE))
                )
            yield

    def handle(self) -> int:
        """The ``llama_context *`` handle, or `LlamaClosedError`."""
        ctx = self.require_open().ctx
        assert ctx is not None
        return ctx

    def require_open(self) -> LlamaContext:
        """The context, or `LlamaClosedError`."""
        if self.ctx is None or self.model is None or self.ctx.ctx is None:
            raise LlamaClosedError("this Llama is closed; create a new one")
        return self.ctx

    # ------------------------------------------------------------ vocabulary
    def piece(self, token: int) -> bytes:
        """The bytes of ``token`` (cached)."""
        piece = self.pieces.get(token)
        if piece is None:
            if self.model is None:
                raise LlamaClosedError("this Llama is closed; create a new one")
            piece = self.pieces[token] = self.model.token_to_piece(token, special=False)
        return piece

    def piece_text(self, token: int) -> str:
        return self.piece(token).decode("utf-8", errors="ignore")

    def is_eog(self, token: int) -> bool:
        """Whether ``token`` ends generation (cached)."""
        eog = self.eog.get(token)
        if eog is None:
            if self.model is None:
                raise LlamaClosedError("this Llama is closed; create a new one")
            eog = self.eog[token] = bool(C.llama_vocab_is_eog(self.model.vocab, token))
        return eog

    # ------------------------------------------------------------ the default sequence and batches
    def reset_default(self) -> None:
        """Forget the default sequence's tokens and free its KV cells.

        The cells must go now, not lazily: the one-token fast path lets llama.cpp
        place its token after the sequence's last cell, so a stale cell would
        shift every later position.
        """
        assert self.default is not None
        self.default.forget()
        if self.ctx is not None:
            self.ctx.kv_cache_seq_rm(DEFAULT_SEQUENCE, 0, -1)

    def _on_claim(self, seq_id: int) -> None:
        """A batched request takes ``seq_id``: if it is the default sequence, its cells are no longer ours."""
        if seq_id == DEFAULT_SEQUENCE and self.default is not None:
            self.default.forget()

    def _reclaim_default(self) -> bool:
        """The KV cache is full: give up the default sequence's cells if no batch uses them."""
        default = self.default
        if default is None or default.n_tokens == 0 or self.ctx is None:
            return False
        if self.scheduler is not None and self.scheduler.generator.uses(DEFAULT_SEQUENCE):
            return False
        self.ctx.kv_cache_seq_rm(DEFAULT_SEQUENCE, 0, -1)
        default.forget()
        return True

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Free everything, once; later calls raise `LlamaClosedError`."""
        if self.scheduler is not None:
            self.scheduler.generator.close()
            self.scheduler = None
        if self.default is not None:
            self.default.close()
        self.stack.close()
        if self.batch is not None:
            self.batch.close()
            self.batch = None
        if self.ctx is not None:
            self.ctx.close()
            self.ctx = None
        if self.lora_adapter:
            C.llama_adapter_lora_free(self.lora_adapter)
            self.lora_adapter = None
        if self.model is not None:
            self.model.close()
            self.model = None
