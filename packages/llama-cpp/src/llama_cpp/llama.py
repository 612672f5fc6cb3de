"""The high-level :class:`Llama`: completion, chat, embeddings, state, caching.

The generation loop has three layers:

* **step** — :meth:`Llama._decode_one` / :meth:`Llama.eval` put tokens into
  the context; a native :class:`~llama_cpp._sampling.SamplerChain` picks the
  next token in one call;
* **stream** — :meth:`Llama.generate` yields tokens, reusing the KV cache for
  the prefix a new prompt shares with what was evaluated before;
* **complete** — :meth:`Llama.create_completion` turns tokens into text
  (UTF-8 and stop strings via :class:`~llama_cpp._completion.TextAssembler`)
  and into the response dicts of the API we replace.

Python-side logits processing (``logits_processor``, ``logprobs``,
``logits_all``) reads the logits through zero-copy NumPy views and runs only
when asked for.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import itertools
import multiprocessing
import os
import random
import threading
import time
import uuid
import warnings
from collections import deque
from contextlib import ExitStack
from typing import (
    TYPE_CHECKING,
    Any,
    Deque,
    Dict,
    Generator,
    Iterator,
    List,
    Literal,
    Optional,
    Sequence,
    Union,
    overload,
)

from . import llama_cpp as C
from ._batching import BatchGenerator, Scheduler
from ._completion import BatchedCompletion, TextAssembler, normalize_stop, top_logprobs_entry
from ._errors import LlamaArgumentError, context_overflow
from ._sequence import GenerationRequest
from ._internals import LlamaBatch, LlamaContext, LlamaModel, normalize_embedding
from ._logger import logger, set_verbose
from ._logits import (
    LogitsProcessor,
    LogitsProcessorList,
    MinTokensLogitsProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
)
from ._media import MediaPrompt
from ._numpy import np
from ._sampling import SamplerChain, SamplingParams, as_logits_view
from ._utils import common_prefix_length, suppress_stdout_stderr
from .llama_cache import BaseLlamaCache, LlamaCache, LlamaDiskCache, LlamaRAMCache
from .llama_speculative import LlamaDraftModel
from .llama_tokenizer import BaseLlamaTokenizer, LlamaTokenizer
from .llama_types import (
    ChatCompletionRequestMessage,
    ChatCompletionRequestResponseFormat,
    ChatCompletionTool,
    ChatCompletionToolChoiceOption,
    CompletionLogprobs,
    CreateChatCompletionResponse,
    CreateChatCompletionStreamResponse,
    CreateCompletionResponse,
    CreateCompletionStreamResponse,
    CreateEmbeddingResponse,
    Embedding,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from .llama_grammar import LlamaGrammar


def __getattr__(name: str) -> Any:
    # LlamaGrammar is importable from here, as in the API we replace, but loaded on first use:
    # the JSON-schema converter behind it is not needed to import llama_cpp
    if name == "LlamaGrammar":
        from .llama_grammar import LlamaGrammar

        return LlamaGrammar
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Llama",
    "LlamaState",
    "LogitsProcessor",
    "LogitsProcessorList",
    "StoppingCriteria",
    "StoppingCriteriaList",
    "MinTokensLogitsProcessor",
    "BaseLlamaCache",
    "LlamaCache",
    "LlamaRAMCache",
    "LlamaDiskCache",
    "BaseLlamaTokenizer",
    "LlamaTokenizer",
    "LlamaDraftModel",
    "set_verbose",
    "suppress_stdout_stderr",
]

_backend_lock = threading.Lock()
_backend_ready = False


def _init_backend(numa: int) -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            C.llama_backend_init()
            _backend_ready = True
        if numa != C.GGML_NUMA_STRATEGY_DISABLED:
            C.llama_numa_init(numa)


def _prompt_list(prompt: Any) -> Optional[List[Any]]:
    """The prompts of a batched call (a list of str or of token lists), or None for one prompt."""
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(p, (str, list, tuple)) for p in prompt):
        if any(isinstance(p, (list, tuple)) and not p for p in prompt):
            raise LlamaArgumentError("a prompt in the list is an empty list of tokens")
        return list(prompt)
    return None


def _choice_counts(n: Any, best_of: Any) -> tuple[int, int]:
    """(n, candidates per prompt) checked as OpenAI defines them: 1 <= n <= best_of."""
    for name, value in (("n", n), ("best_of", best_of)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise LlamaArgumentError(f"{name} must be a positive int, not {value!r}")
    best = n if best_of is None else best_of
    if best < n:
        raise LlamaArgumentError(f"best_of ({best_of}) must be at least n ({n})")
    return n, best


class LlamaState:
    """A snapshot of a :class:`Llama`'s evaluated tokens and native state (picklable)."""

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
        # scores[-1] holds the logits that followed input_ids[n_tokens - 1]
        self.logits_valid = logits_valid


_CONSTRUCTOR_PARAMS = (
    "n_gpu_layers", "split_mode", "main_gpu", "tensor_split", "vocab_only", "use_mmap", "use_mlock",
    "kv_overrides", "seed", "n_ctx", "n_batch", "n_ubatch", "n_threads", "n_threads_batch",
    "rope_scaling_type", "pooling_type", "attention_type", "rope_freq_base", "rope_freq_scale",
    "yarn_ext_factor", "yarn_attn_factor", "yarn_beta_fast", "yarn_beta_slow", "yarn_orig_ctx",
    "logits_all", "embedding", "offload_kqv", "flash_attn", "op_offload", "swa_full", "no_perf",
    "last_n_tokens_size", "lora_base", "lora_scale", "lora_path", "numa", "chat_format", "chat_handler",
    "draft_model", "type_k", "type_v", "spm_infill", "verbose", "n_seq_max",
)
DEFAULT_SEQUENCE = 0  # the sequence id of the single-sequence API (eval, generate, state); batches use the others first
_ACCEPTED_EXTRA_KWARGS = {"rpc_servers", "mul_mat_q"}


class Llama:
    """A llama.cpp model and inference context, with the ``llama-cpp-python`` API.

    Instances may be shared between threads: calls on one instance run one at a
    time (a stream holds the instance until it is exhausted or closed); separate
    instances run in parallel. Use it as a context manager, or call
    :meth:`close`, to free native memory deterministically.
    """

    def __init__(
        self,
        model_path: str,
        *,
        n_gpu_layers: int = 0,
        split_mode: int = C.LLAMA_SPLIT_MODE_LAYER,
        main_gpu: int = 0,
        tensor_split: Optional[List[float]] = None,
        vocab_only: bool = False,
        use_mmap: bool = True,
        use_mlock: bool = False,
        kv_overrides: Optional[Dict[str, Union[bool, int, float, str]]] = None,
        seed: int = C.LLAMA_DEFAULT_SEED,
        n_ctx: int = 512,
        n_batch: int = 512,
        n_ubatch: int = 512,
        n_threads: Optional[int] = None,
        n_threads_batch: Optional[int] = None,
        rope_scaling_type: Optional[int] = C.LLAMA_ROPE_SCALING_TYPE_UNSPECIFIED,
        pooling_type: int = C.LLAMA_POOLING_TYPE_UNSPECIFIED,
        attention_type: int = C.LLAMA_ATTENTION_TYPE_UNSPECIFIED,
        rope_freq_base: float = 0.0,
        rope_freq_scale: float = 0.0,
        yarn_ext_factor: float = -1.0,
        yarn_attn_factor: float = 1.0,
        yarn_beta_fast: float = 32.0,
        yarn_beta_slow: float = 1.0,
        yarn_orig_ctx: int = 0,
        logits_all: bool = False,
        embedding: bool = False,
        offload_kqv: bool = True,
        flash_attn: bool = False,
        op_offload: Optional[bool] = None,
        swa_full: Optional[bool] = None,
        no_perf: bool = False,
        last_n_tokens_size: int = 64,
        lora_base: Optional[str] = None,
        lora_scale: float = 1.0,
        lora_path: Optional[str] = None,
        numa: Union[bool, int] = False,
        chat_format: Optional[str] = None,
        chat_handler: Optional[Any] = None,
        draft_model: Optional[LlamaDraftModel] = None,
        tokenizer: Optional[BaseLlamaTokenizer] = None,
        type_k: Optional[int] = None,
        type_v: Optional[int] = None,
        spm_infill: bool = False,
        verbose: bool = True,
        n_seq_max: int = 1,
        **kwargs: Any,
    ):
        # attributes close() relies on, first, so a failed constructor still cleans up
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self._owner: Optional[int] = None
        self._model: Optional[LlamaModel] = None
        self._ctx: Optional[LlamaContext] = None
        self._batch: Optional[LlamaBatch] = None
        self._lora_adapter: Optional[int] = None
        self._sampler: Optional[SamplerChain] = None
        self._restoring_from_cache = False
        self._scheduler: Optional[Scheduler] = None

        unknown = sorted(set(kwargs) - _ACCEPTED_EXTRA_KWARGS)
        if unknown:
            warnings.warn(f"Llama() ignores unknown keyword arguments: {', '.join(unknown)}", UserWarning, stacklevel=2)
        self.rpc_servers = kwargs.get("rpc_servers")
        from ._backends import apply_rpc_servers  # RPC servers become ggml devices before the model loads

        self._rpc_devices = apply_rpc_servers(self.rpc_servers)

        self.verbose = verbose
        set_verbose(verbose)

        if isinstance(numa, bool):
            self.numa = C.GGML_NUMA_STRATEGY_DISTRIBUTE if numa else C.GGML_NUMA_STRATEGY_DISABLED
        else:
            self.numa = numa
        _init_backend(self.numa)

        self.model_path = model_path
        self._constructor_args = {name: value for name, value in locals().items() if name in _CONSTRUCTOR_PARAMS}

        # ---- model parameters
        mp = C.llama_model_default_params()
        mp.n_gpu_layers = 0x7FFFFFFF if n_gpu_layers == -1 else n_gpu_layers
        mp.split_mode = split_mode
        mp.main_gpu = main_gpu
        self.tensor_split = tensor_split
        if tensor_split is not None:
            if len(tensor_split) > C.LLAMA_MAX_DEVICES:
                raise ValueError(
                    "Attempt to split tensors that exceed maximum supported devices. "
                    f"Current LLAMA_MAX_DEVICES={C.LLAMA_MAX_DEVICES}"
                )
            self._tensor_split = (ctypes.c_float * C.LLAMA_MAX_DEVICES)(*tensor_split)
            mp.tensor_split = self._tensor_split
        mp.vocab_only = vocab_only
        if lora_path:
            use_mmap = False
        if use_mmap and use_mlock:
            mp.load_mode = C.LLAMA_LOAD_MODE_MMAP_MLOCK
        elif use_mlock:
            mp.load_mode = C.LLAMA_LOAD_MODE_MLOCK
        elif use_mmap:
            mp.load_mode = C.LLAMA_LOAD_MODE_MMAP
        else:
            mp.load_mode = C.LLAMA_LOAD_MODE_NONE
        self.kv_overrides = kv_overrides
        if kv_overrides:
            self._kv_overrides_array = self._make_kv_overrides(kv_overrides)
            mp.kv_overrides = self._kv_overrides_array
        self.model_params = mp

        # ---- context parameters
        self._seed = seed or C.LLAMA_DEFAULT_SEED
        cpu = multiprocessing.cpu_count()
        self.n_threads = n_threads or max(cpu // 2, 1)
        self.n_threads_batch = n_threads_batch or max(cpu, 1)
        self.n_batch = min(n_ctx, n_batch) if n_ctx > 0 else n_batch
        cp = C.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = self.n_batch
        cp.n_ubatch = min(self.n_batch, n_ubatch)
        cp.n_threads = self.n_threads
        cp.n_threads_batch = self.n_threads_batch
        cp.rope_scaling_type = C.LLAMA_ROPE_SCALING_TYPE_UNSPECIFIED if rope_scaling_type is None else rope_scaling_type
        cp.pooling_type = pooling_type
        cp.attention_type = attention_type
        cp.rope_freq_base = rope_freq_base
        cp.rope_freq_scale = rope_freq_scale
        cp.yarn_ext_factor = yarn_ext_factor
        cp.yarn_attn_factor = yarn_attn_factor
        cp.yarn_beta_fast = yarn_beta_fast
        cp.yarn_beta_slow = yarn_beta_slow
        cp.yarn_orig_ctx = yarn_orig_ctx
        cp.offload_kqv = offload_kqv
        cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else C.LLAMA_FLASH_ATTN_TYPE_DISABLED
        if op_offload is not None:
            cp.op_offload = op_offload
        if swa_full is not None:
            cp.swa_full = swa_full
        if type_k is not None:
            cp.type_k = type_k
        if type_v is not None:
            cp.type_v = type_v
        cp.no_perf = no_perf
        if isinstance(n_seq_max, bool) or not isinstance(n_seq_max, int) or not 1 <= n_seq_max <= C.llama_max_parallel_sequences():
            raise LlamaArgumentError(
                f"n_seq_max must be an int from 1 to {C.llama_max_parallel_sequences()}, not {n_seq_max!r}"
            )
        self.n_seq_max = n_seq_max
        cp.n_seq_max = n_seq_max
        if embedding:
            cp.embeddings = True
            cp.n_seq_max = max(n_seq_max, min(self.n_batch, C.llama_max_parallel_sequences()))
        if cp.n_seq_max > 1:
            cp.kv_unified = True  # the sequences share the n_ctx cells instead of n_ctx / n_seq_max each
        self.context_params = cp
        self._logits_all = logits_all  # speculative decoding asks for the rows it verifies itself
        self.last_n_tokens_size = last_n_tokens_size
        self.lora_base = lora_base
        self.lora_scale = lora_scale
        self.lora_path = lora_path
        self.spm_infill = spm_infill
        self.draft_model = draft_model
        self.cache: Optional[BaseLlamaCache] = None

        # ---- load
        self._model = LlamaModel(path_model=model_path, params=mp, verbose=verbose)
        self.tokenizer_ = tokenizer or LlamaTokenizer(self)
        if n_ctx == 0:
            n_ctx = self._model.n_ctx_train()
            self.n_batch = min(n_ctx, n_batch)
            cp.n_ctx = n_ctx
            cp.n_batch = self.n_batch
            cp.n_ubatch = min(self.n_batch, n_ubatch)
        self._ctx = LlamaContext(model=self._model, params=cp, verbose=verbose)
        self._batch = LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=verbose)

        if lora_path:
            adapter = C.llama_adapter_lora_init(self._model.model, lora_path.encode("utf-8"))
            if not adapter:
                raise RuntimeError(f"Failed to initialize LoRA adapter from lora path: {lora_path}")
            self._lora_adapter = adapter
            if C.llama_set_adapter_lora(self._ctx_handle(), adapter, lora_scale) != 0:
                raise RuntimeError(f"Failed to set LoRA adapter from lora path: {lora_path}")

        self._n_ctx = self.n_ctx()
        self._n_vocab = self.n_vocab()
        self.input_ids: npt.NDArray[np.intc] = np.zeros((self._n_ctx,), dtype=np.intc)
        # with logits_all, rows are added as positions are evaluated (not n_ctx x n_vocab up front)
        self.scores: npt.NDArray[np.single] = np.zeros((0 if self._logits_all else 1, self._n_vocab), dtype=np.single)
        self.n_tokens = 0
        self._logits_fresh = False  # do the context's logits belong to input_ids[n_tokens-1]?
        self._one = (C.llama_token * 1)()
        self._one_batch = C.llama_batch_get_one(self._one, 1)  # built once: it only points at _one
        self._restored_logits: Optional[npt.NDArray[np.single]] = None
        self._pieces: Dict[int, bytes] = {}
        self._eog: Dict[int, bool] = {}
        try:
            self.metadata: Dict[str, str] = self._model.metadata()
        except Exception as e:  # metadata is informative; never fatal
            logger.warning("could not read the model's metadata: %s", e)
            self.metadata = {}
        self._is_recurrent = bool(C.llama_model_is_recurrent(self._model.model))
        self._is_hybrid = bool(C.llama_model_is_hybrid(self._model.model))

        self.chat_format = chat_format
        self.chat_handler = chat_handler
        self._chat_handlers: Dict[str, Any] = {}
        from ._chat.dispatch import chat_setup

        chat_setup(self)
        self._scheduler = Scheduler(
            BatchGenerator(self._ctx, self._model, range(self.n_seq_max), self.n_batch, self._piece_text, self._is_eog,
                           reclaim=self._reclaim_default_sequence, on_claim=self._on_sequence_claimed),
            self._hold,
        )

    # ------------------------------------------------------------ plumbing
    @staticmethod
    def _make_kv_overrides(kv_overrides: Dict[str, Union[bool, int, float, str]]) -> Any:
        arr = (C.llama_model_kv_override * (len(kv_overrides) + 1))()
        for i, (key, value) in enumerate(kv_overrides.items()):
            arr[i].key = key.encode("utf-8")
            if isinstance(value, bool):
                arr[i].tag = C.LLAMA_KV_OVERRIDE_TYPE_BOOL
                arr[i].value.val_bool = value
            elif isinstance(value, int):
                arr[i].tag = C.LLAMA_KV_OVERRIDE_TYPE_INT
                arr[i].value.val_i64 = value
            elif isinstance(value, float):
                arr[i].tag = C.LLAMA_KV_OVERRIDE_TYPE_FLOAT
                arr[i].value.val_f64 = value
            elif isinstance(value, str):
                encoded = value.encode("utf-8")
                if len(encoded) > 128:
                    raise ValueError(f"Value for {key} is too long: {value}")
                arr[i].tag = C.LLAMA_KV_OVERRIDE_TYPE_STR
                arr[i].value.val_str = encoded.ljust(128, b"\0")
            else:
                raise ValueError(f"Unknown value type for {key}: {value}")
        arr[len(kv_overrides)].key = b"\0"
        return arr

    @contextlib.contextmanager
    def _busy(self, exclusive: bool = False) -> Iterator[None]:
        """Hold this instance for one call (or one whole stream) of the single-sequence API.

        Batched requests in flight keep running on their own sequences; if one
        holds the default sequence it is stepped to its end first, and with
        ``exclusive`` (whole-context operations: state, embeddings) all are.
        """
        with self._hold():
            scheduler = self._scheduler
            if scheduler is not None and scheduler.generator.has_work:
                generator = scheduler.generator
                scheduler.run_until_free(
                    (lambda: generator.has_work) if exclusive else (lambda: generator.uses(DEFAULT_SEQUENCE))
                )
            yield

    @contextlib.contextmanager
    def _hold(self) -> Iterator[None]:
        """Hold this instance: one call, one stream, or one batch step.

        A plain lock, so a stream may be finished from another thread than the
        one that started it (servers iterate streams in thread pools).
        """
        if not self._lock.acquire(blocking=False):
            if self._owner == threading.get_ident():
                raise RuntimeError(
                    "this Llama is busy with an unfinished stream started in this thread; "
                    "exhaust or close() that stream before calling it again"
                )
            self._lock.acquire()
        self._owner = threading.get_ident()
        try:
            yield
        finally:
            self._owner = None
            self._lock.release()

    def _ctx_handle(self) -> int:
        if self._ctx is None or not self._ctx.ctx:
            raise RuntimeError("this Llama is closed; create a new one")
        return self._ctx.ctx

    def _require_open(self) -> None:
        if self._ctx is None or self._model is None or self._ctx.ctx is None:
            raise RuntimeError("this Llama is closed; create a new one")

    @property
    def ctx(self) -> Optional[int]:
        return self._ctx.ctx if self._ctx else None

    @property
    def model(self) -> Optional[int]:
        return self._model.model if self._model else None

    @property
    def _input_ids(self) -> npt.NDArray[np.intc]:
        return self.input_ids[: self.n_tokens]

    @property
    def _scores(self) -> npt.NDArray[np.single]:
        return self.scores[: self.n_tokens, :] if self._logits_all else self.scores[:1, :]

    @property
    def eval_tokens(self) -> Deque[int]:
        return deque(self.input_ids[: self.n_tokens].tolist(), maxlen=self._n_ctx)

    @property
    def eval_logits(self) -> Deque[List[float]]:
        return deque(self._scores.tolist(), maxlen=self._n_ctx if self._logits_all else 1)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Free the context, the model and everything attached (idempotent)."""
        with self._hold():
            if self._scheduler is not None:
                self._scheduler.generator.close()
                self._scheduler = None
            if self._sampler is not None:
                self._sampler.close()
                self._sampler = None
            self._stack.close()
            if self._batch is not None:
                self._batch.close()
                self._batch = None
            if self._ctx is not None:
                self._ctx.close()
                self._ctx = None
            if self._lora_adapter:
                C.llama_adapter_lora_free(self._lora_adapter)
                self._lora_adapter = None
            if self._model is not None:
                self._model.close()
                self._model = None

    def __enter__(self) -> Llama:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if getattr(self, "_lock", None) is not None:
                self.close()
        except Exception:
            pass

    def __getstate__(self) -> Dict[str, Any]:
        return dict(model_path=self.model_path, **self._constructor_args)

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    # ------------------------------------------------------------ vocabulary
    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> List[int]:
        if isinstance(text, str):
            raise TypeError("tokenize() takes bytes; use text.encode('utf-8')")
        self._require_open()
        return self.tokenizer_.tokenize(text, add_bos, special)

    def detokenize(self, tokens: List[int], prev_tokens: Optional[List[int]] = None, special: bool = False) -> bytes:
        self._require_open()
        return self.tokenizer_.detokenize(tokens, prev_tokens=prev_tokens, special=special)

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            assert self._model is not None
            piece = self._pieces[token] = self._model.token_to_piece(token, special=False)
        return piece

    def _is_eog(self, token: int) -> bool:
        eog = self._eog.get(token)
        if eog is None:
            assert self._model is not None
            eog = self._eog[token] = bool(C.llama_vocab_is_eog(self._model.vocab, token))
        return eog

    def set_cache(self, cache: Optional[BaseLlamaCache]) -> None:
        self.cache = cache

    def set_seed(self, seed: int) -> None:
        self._seed = seed

    def reset(self) -> None:
        """Forget the evaluated tokens (the KV cache is reused or cleared lazily)."""
        with self._busy():
            self._reset()

    def _forget_default_sequence(self) -> None:
        self.n_tokens = 0
        self._logits_fresh = False
        self._restored_logits = None

    def _on_sequence_claimed(self, seq_id: int) -> None:
        """A batched request takes ``seq_id``: if it is the default sequence, its KV is no longer ours."""
        if seq_id == DEFAULT_SEQUENCE:
            self._forget_default_sequence()

    def _reclaim_default_sequence(self) -> bool:
        """The KV cache is full: give up the default sequence's cells if a batch does not use them."""
        if self.n_tokens == 0 or self._ctx is None:
            return False
        if self._scheduler is not None and self._scheduler.generator.uses(DEFAULT_SEQUENCE):
            return False
        self._ctx.kv_cache_seq_rm(DEFAULT_SEQUENCE, 0, -1)
        self._forget_default_sequence()
        return True

    def _reset(self) -> None:
        self.n_tokens = 0
        self._logits_fresh = False
        self._restored_logits = None
        if (self._is_recurrent or self._is_hybrid) and self._ctx is not None:
            self._ctx.kv_cache_clear()

    def n_ctx(self) -> int:
        self._require_open()
        assert self._ctx is not None
        return self._ctx.n_ctx()

    def n_embd(self) -> int:
        self._require_open()
        assert self._model is not None
        return self._model.n_embd()

    def n_vocab(self) -> int:
        self._require_open()
        assert self._model is not None
        return self._model.n_vocab()

    def tokenizer(self) -> LlamaTokenizer:
        return LlamaTokenizer(self)

    def token_eos(self) -> int:
        assert self._model is not None
        return self._model.token_eos()

    def token_bos(self) -> int:
        assert self._model is not None
        return self._model.token_bos()

    def token_nl(self) -> int:
        assert self._model is not None
        return self._model.token_nl()

    def pooling_type(self) -> int:
        assert self._ctx is not None
        return self._ctx.pooling_type()

    @staticmethod
    def logits_to_logprobs(logits: Union[npt.NDArray[np.single], List[Any]], axis: int = -1) -> npt.NDArray[np.single]:
        """Numerically stable log-softmax, in float32."""
        x = np.asarray(logits, dtype=np.single)
        top = np.amax(x, axis=axis, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0).astype(np.single)
        shifted = x - top
        with np.errstate(divide="ignore"):
            out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        return out.astype(np.single, copy=False)

    @staticmethod
    def longest_token_prefix(a: Union[Sequence[int], npt.NDArray[np.intc]], b: Union[Sequence[int], npt.NDArray[np.intc]]) -> int:
        return common_prefix_length(a, b)

    # ------------------------------------------------------------ step
    def _decode_one(self, token: int) -> None:
        """Evaluate one token after the evaluated ones (the per-token hot path)."""
        n = self.n_tokens
        if n >= self._n_ctx:
            raise ValueError(f"Requested tokens ({n + 1}) exceed context window of {self._n_ctx}")
        self._one[0] = token
        assert self._ctx is not None
        rc = C.llama_decode(self._ctx.ctx, self._one_batch)
        if rc != 0:
            self._logits_fresh = False
            raise RuntimeError(f"llama_decode returned {rc}")
        self.input_ids[n] = token
        self.n_tokens = n + 1
        self._logits_fresh = True
        if self._logits_all:
            self._grow_scores(n + 1)
            self.scores[n, :] = as_logits_view(C.llama_get_logits_ith(self._ctx.ctx, -1), self._n_vocab)

    def _grow_scores(self, rows: int) -> None:
        have = self.scores.shape[0]
        if rows > have:
            grown = np.zeros((min(max(rows, 2 * have, 64), self._n_ctx), self._n_vocab), dtype=np.single)
            grown[:have] = self.scores
            self.scores = grown

    def eval(self, tokens: Sequence[int]) -> None:
        """Evaluate ``tokens`` after the ``n_tokens`` already evaluated ones."""
        with self._busy():
            self._eval(self._check_tokens(tokens))

    def _check_tokens(self, tokens: Sequence[int]) -> List[int]:
        arr = np.asarray(tokens)
        if arr.size and (arr.ndim != 1 or arr.dtype.kind not in "iu"):
            raise TypeError("tokens must be a sequence of int token ids")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= self._n_vocab):
            bad = next(int(t) for t in arr if not 0 <= int(t) < self._n_vocab)
            raise ValueError(f"token {bad} is not a token id of this model (0..{self._n_vocab - 1})")
        return arr.astype(np.intc).tolist()

    def _eval(self, tokens: List[int], all_outputs: bool = False, explicit_positions: bool = False) -> None:
        """Evaluate tokens; ``all_outputs``: keep every position's logits for this call.
        ``explicit_positions``: never let llama.cpp derive the position (after an M-RoPE image its
        last stored position is not ``n_tokens - 1``)."""
        self._require_open()
        assert self._ctx is not None and self._batch is not None
        if not tokens:
            return
        if self.n_tokens + len(tokens) > self._n_ctx:
            raise ValueError(f"Requested tokens ({self.n_tokens + len(tokens)}) exceed context window of {self._n_ctx}")
        self._ctx.kv_cache_seq_rm(0, self.n_tokens, -1)
        if len(tokens) == 1 and not self._logits_all and not explicit_positions:
            self._decode_one(tokens[0])
            return
        for i in range(0, len(tokens), self.n_batch):
            chunk = tokens[i: i + self.n_batch]
            n_past = self.n_tokens
            self._batch.set_batch(chunk, n_past=n_past, logits_all=self._logits_all or all_outputs)
            try:
                self._ctx.decode(self._batch)
            except RuntimeError:
                self._logits_fresh = False
                raise
            self.input_ids[n_past: n_past + len(chunk)] = chunk
            if self._logits_all:
                rows = np.ctypeslib.as_array(self._ctx.get_logits(), shape=(len(chunk), self._n_vocab))
                self._grow_scores(n_past + len(chunk))
                self.scores[n_past: n_past + len(chunk), :] = rows
            self.n_tokens = n_past + len(chunk)
        self._logits_fresh = True

    # ------------------------------------------------------------ sampling
    def _sampling_params(
        self, temp: float, top_k: int, top_p: float, min_p: float, typical_p: float, repeat_penalty: float,
        frequency_penalty: float, presence_penalty: float, mirostat_mode: int, mirostat_tau: float,
        mirostat_eta: float, grammar: Optional[LlamaGrammar], logit_bias: Optional[Dict[int, float]] = None,
    ) -> SamplingParams:
        if grammar is not None and not isinstance(grammar, __getattr__("LlamaGrammar")):
            raise TypeError(f"grammar must be a LlamaGrammar (LlamaGrammar.from_string(...)), not {type(grammar).__name__}")
        return SamplingParams(
            temperature=temp, top_k=top_k, top_p=top_p, min_p=min_p, typical_p=typical_p,
            repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty, presence_penalty=presence_penalty,
            penalty_last_n=self.last_n_tokens_size, mirostat_mode=mirostat_mode, mirostat_tau=mirostat_tau,
            mirostat_eta=mirostat_eta, seed=self._seed, logit_bias=logit_bias, grammar=grammar,
        )

    def _apply_logits_processor(self, logits_processor: Optional[LogitsProcessorList], idx: int = -1) -> None:
        if not logits_processor:
            return
        assert self._ctx is not None
        row = as_logits_view(C.llama_get_logits_ith(self._ctx.ctx, idx), self._n_vocab)
        new = logits_processor(self._input_ids, row)
        if new is not row:
            row[:] = new

    def sample(
        self,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        temp: float = 0.80,
        repeat_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_eta: float = 0.1,
        mirostat_tau: float = 5.0,
        penalize_nl: bool = True,
        logits_processor: Optional[LogitsProcessorList] = None,
        grammar: Optional[LlamaGrammar] = None,
        idx: Optional[int] = None,
    ) -> int:
        """Pick the next token from the logits of the last evaluated position."""
        with self._busy():
            self._require_open()
            if self.n_tokens == 0 or not self._logits_fresh:
                raise RuntimeError("sample() needs logits: evaluate tokens with eval() first")
            params = self._sampling_params(temp, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty,
                                           presence_penalty, mirostat_mode, mirostat_tau, mirostat_eta, grammar)
            chain = SamplerChain(self._model, params)  # type: ignore[arg-type]
            try:
                chain.prime_penalties(self._input_ids)
                row = -1 if idx is None else idx - self.n_tokens
                self._apply_logits_processor(logits_processor, row)
                assert self._ctx is not None
                return chain.sample(self._ctx_handle(), row)
            finally:
                chain.close()

    # ------------------------------------------------------------ stream
    def generate(
        self,
        tokens: Sequence[int],
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        temp: float = 0.80,
        repeat_penalty: float = 1.0,
        reset: bool = True,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        penalize_nl: bool = True,
        logits_processor: Optional[LogitsProcessorList] = None,
        stopping_criteria: Optional[StoppingCriteriaList] = None,
        grammar: Optional[LlamaGrammar] = None,
    ) -> Generator[int, Optional[Sequence[int]], None]:
        """Yield tokens continuing ``tokens`` until the caller stops (endless).

        Tokens sent with ``.send(seq)`` are evaluated after the yielded one.
        The KV cache of the longest prefix shared with the previous evaluation
        is kept, so a prompt extending the last one costs only its new tokens.
        """
        params = self._sampling_params(temp, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty,
                                       presence_penalty, mirostat_mode, mirostat_tau, mirostat_eta, grammar)
        return self._generate(list(tokens), params, reset, logits_processor, stopping_criteria)

    def _prepare_prefix(self, tokens: List[int], reset: bool, have_logits: bool = False) -> List[int]:
        """Reuse what is evaluated: return the tokens still to evaluate (empty: sample now)."""
        if reset and self.n_tokens > 0:
            common = self.longest_token_prefix(self._input_ids, tokens)
            consumed = common == len(tokens)
            if consumed and self.n_tokens == len(tokens) and (self._logits_fresh or have_logits):
                return []
            keep = common - 1 if consumed else common
            assert self._ctx is not None
            if keep > 0 and self._ctx.memory and C.llama_memory_seq_rm(self._ctx.memory, 0, keep, -1):
                self.n_tokens = keep
                self._logits_fresh = False
                return tokens[keep:]
            self._reset()
        elif reset:
            self._reset()
        return tokens

    def _generate(
        self,
        tokens: List[int],
        params: SamplingParams,
        reset: bool,
        logits_processor: Optional[LogitsProcessorList],
        stopping_criteria: Optional[StoppingCriteriaList],
        locked: bool = False,
        prepared: bool = False,
    ) -> Generator[int, Optional[Sequence[int]], None]:
        """``prepared``: ``tokens`` is what the context already holds (a :class:`MediaPrompt` just evaluated
        it; image positions have negative ids), so it is not checked as token ids."""
        with contextlib.nullcontext() if locked else self._busy():
            self._require_open()
            assert self._ctx is not None
            if not prepared:
                tokens = self._check_tokens(tokens)
            if self._sampler is not None:
                self._sampler.close()
            chain = self._sampler = SamplerChain(self._model, params)  # type: ignore[arg-type]
            # logits saved by save_state(): sampling resumes from them without re-evaluating anything
            restored, self._restored_logits = self._restored_logits, None
            pending: Optional[List[int]] = self._prepare_prefix(tokens, reset, restored is not None)
            if pending:
                restored = None
            chain.prime_penalties([t for t in tokens if t >= 0] if prepared else tokens)
            ctx = self._ctx.ctx
            assert ctx is not None
            sample = C.llama_sampler_sample
            chain_ptr = chain.ptr
            native_only = not chain.constrained  # one native call per token
            while pending is not None:
                if self.draft_model is not None and pending:
                    pending = yield from self._speculate(pending, chain, logits_processor, stopping_criteria)
                    continue
                if len(pending) == 1 and not self._logits_all:
                    self._decode_one(pending[0])
                elif pending:
                    self._eval(pending)
                if restored is not None:
                    row = restored.copy()
                    if logits_processor:
                        row = np.asarray(logits_processor(self._input_ids, row), dtype=np.single)
                    token = chain.sample_logits(row)
                    restored = None
                    if stopping_criteria is not None and self._stop_now(stopping_criteria, token, logits=row):
                        return
                else:
                    if logits_processor:
                        self._apply_logits_processor(logits_processor)
                    token = sample(chain_ptr, ctx, -1) if native_only else chain.sample(ctx, -1)
                    if stopping_criteria is not None and self._stop_now(stopping_criteria, token):
                        return
                sent = yield token
                pending = [token, *sent] if sent else [token]

    def _stop_now(self, criteria: StoppingCriteriaList, token: int, idx: int = -1,
                  logits: Optional[npt.NDArray[np.single]] = None) -> bool:
        assert self._ctx is not None
        ids = np.append(self._input_ids, np.intc(token)).astype(np.intc, copy=False)
        if logits is None:
            logits = as_logits_view(C.llama_get_logits_ith(self._ctx.ctx, idx), self._n_vocab)
        return bool(criteria(ids, logits))

    def _speculate(
        self,
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
        assert self.draft_model is not None and self._ctx is not None
        if len(pending) > 1:
            self._eval(pending[:-1])
        last = pending[-1]
        history = np.append(self._input_ids, np.intc(last)).astype(np.intc, copy=False)
        proposal = [int(t) for t in self.draft_model(history)]
        room = min(self._n_ctx - self.n_tokens - 1, self.n_batch - 1)
        proposal = proposal[: max(room, 0)]
        bad = next((i for i, t in enumerate(proposal) if not 0 <= t < self._n_vocab), None)
        if bad is not None:  # a draft is a contiguous run: keep it up to the first id that is no token
            proposal = proposal[:bad]
        base = self.n_tokens  # position of `last`
        self._eval([last, *proposal], all_outputs=True)
        for j in range(len(proposal) + 1):
            if logits_processor:
                self.n_tokens = base + 1 + j
                self._apply_logits_processor(logits_processor, j)
            token = chain.sample(self._ctx_handle(), j)
            valid = base + 1 + j  # `last` and the first j proposals are right
            self.n_tokens = valid
            if stopping_criteria is not None and self._stop_now(stopping_criteria, token, j):
                self._ctx.kv_cache_seq_rm(0, valid, -1)
                self._logits_fresh = False
                return None
            accepted = j < len(proposal) and proposal[j] == token
            if not accepted:
                self._ctx.kv_cache_seq_rm(0, valid, -1)
                self._logits_fresh = False
                sent = yield token
                return [token, *sent] if sent else [token]
            self.n_tokens = valid + 1  # the accepted proposal is already in the context
            sent = yield token
            if sent:
                self._ctx.kv_cache_seq_rm(0, self.n_tokens, -1)
                self._logits_fresh = False
                return list(sent)
        return None  # unreachable: the last row is never "accepted"

    # ------------------------------------------------------------ complete
    def _prompt_tokens(self, prompt: Union[str, List[int]], suffix: Optional[str]) -> List[int]:
        assert self._model is not None
        if isinstance(prompt, str):
            bos = self._model.token_bos()
            tokens: List[int] = []
            if suffix is None:
                if self._model.add_bos_token() and bos != -1:
                    tokens.append(bos)
                if prompt:
                    tokens += self.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
                sep = self._model.token_sep()
                if sep != -1:
                    tokens.append(sep)
                elif self._model.add_eos_token():
                    tokens.append(self._model.token_eos())
                return tokens
            return self._infill_tokens(prompt, suffix)
        if isinstance(prompt, (list, tuple, np.ndarray)):
            out = [int(t) for t in prompt]
            for t in out:
                if not 0 <= t < self._n_vocab:
                    raise ValueError(f"prompt token {t} is not a token id of this model (0..{self._n_vocab - 1})")
            if suffix is not None:
                raise ValueError("suffix needs a str prompt")
            return out
        raise TypeError(f"prompt must be a str or a list of token ids, not {type(prompt).__name__}")

    def _infill_tokens(self, prompt: str, suffix: str) -> List[int]:
        assert self._model is not None
        pre, mid, suf = self._model.token_prefix(), self._model.token_middle(), self._model.token_suffix()
        if -1 in (pre, mid, suf):
            raise ValueError("this model has no fill-in-the-middle tokens (FIM_PRE/FIM_SUF/FIM_MID); suffix needs an infill model")
        prefix_ids = [pre] + self.tokenize(prompt.encode("utf-8"), add_bos=False, special=False)
        suffix_ids = [suf] + self.tokenize(suffix.encode("utf-8"), add_bos=False, special=False)
        body = suffix_ids + prefix_ids if self.spm_infill else prefix_ids + suffix_ids
        bos = self._model.token_bos()
        head = [bos] if self._model.add_bos_token() and bos != -1 else []
        return head + body + [mid]

    def _check_prompt(self, prompt_tokens: List[int]) -> None:
        assert self._model is not None
        if len(prompt_tokens) >= self._n_ctx:
            raise ValueError(f"Requested tokens ({len(prompt_tokens)}) exceed context window of {self._n_ctx}")
        bos = self._model.token_bos()
        if len(prompt_tokens) >= 2 and prompt_tokens[0] == bos == prompt_tokens[1]:
            warnings.warn(
                f'Detected duplicate leading "{self._model.token_get_text(bos)}" in prompt, this will likely reduce '
                "response quality, consider removing it...",
                RuntimeWarning,
                stacklevel=3,
            )

    def _next_seed(self, seed: Optional[int]) -> None:
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise TypeError(f"seed must be an int, not {type(seed).__name__}")
            self.set_seed(seed)
        else:
            self.set_seed(random.Random(self._seed).randint(0, 2**32 - 1))

    def _completion_events(
        self,
        prompt: Union[str, List[int]],
        suffix: Optional[str],
        max_tokens: Optional[int],
        params: SamplingParams,
        logprobs: Optional[int],
        echo: bool,
        stop: List[bytes],
        stream: bool,
        seed: Optional[int],
        model: Optional[str],
        stopping_criteria: Optional[StoppingCriteriaList],
        logits_processor: Optional[LogitsProcessorList],
    ) -> Generator[Dict[str, Any], None, None]:
        """The completion as a series of chunk dicts (the last one carries finish_reason and usage)."""
        with self._busy(exclusive=self.cache is not None):
            self._require_open()
            assert self._model is not None and self._ctx is not None
            completion_id = f"cmpl-{uuid.uuid4()}"
            created = int(time.time())
            model_name = model if model is not None else self.model_path
            if echo and not isinstance(prompt, str):
                raise TypeError("echo needs a str prompt (the prompt text is echoed)")
            if logprobs is not None:
                if isinstance(logprobs, bool) or not isinstance(logprobs, int) or logprobs < 0:
                    raise ValueError(f"logprobs must be a non-negative int, not {logprobs!r}")
                if echo and not self._logits_all:
                    raise ValueError("logprobs is not supported for models created with logits_all=False")
            media = isinstance(prompt, MediaPrompt)
            if media:  # images: evaluated here, under the lock, so nothing can come between that and sampling
                if suffix is not None:
                    raise ValueError("suffix cannot be combined with a prompt that has images")
                prompt_tokens = prompt.evaluate(self)  # type: ignore[union-attr]
            else:
                prompt_tokens = self._prompt_tokens(prompt, suffix)  # type: ignore[arg-type]
                if not prompt_tokens:
                    bos = self._model.token_bos()
                    prompt_tokens = [bos if bos != -1 else self._model.token_eos()]
                self._check_prompt(prompt_tokens)
            room = self._n_ctx - len(prompt_tokens)
            if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
                raise TypeError(f"max_tokens must be an int or None, not {type(max_tokens).__name__}")
            limit = room if max_tokens is None or max_tokens <= 0 else min(max_tokens, room)
            self._next_seed(seed)
            params.seed = self._seed

            if self.cache is not None and not media:  # cache keys are tokens: image positions have none
                self._load_from_cache(prompt_tokens)

            assembler = TextAssembler(stop)
            completion: List[int] = []
            lp_tokens: List[str] = []
            lp_offsets: List[int] = []
            lp_values: List[Optional[float]] = []
            lp_top: List[Optional[Dict[str, float]]] = []
            prompt_text = prompt if isinstance(prompt, str) else ""
            text_offset = 0 if echo else len(prompt_text)

            def chunk(text: str, lp: Optional[CompletionLogprobs], finish: Optional[str]) -> Dict[str, Any]:
                return {"id": completion_id, "object": "text_completion", "created": created, "model": model_name,
                        "choices": [{"text": text, "index": 0, "logprobs": lp, "finish_reason": finish}]}

            if echo and logprobs is not None:
                self._echo_logprobs(prompt_tokens, logprobs, lp_tokens, lp_offsets, lp_values, lp_top)
                text_offset = sum(len(t) for t in lp_tokens)
            if echo and stream:
                yield chunk(prompt_text, None, None)

            finish = "length"
            gen = self._generate(prompt_tokens, params, True, logits_processor, stopping_criteria, locked=True,
                                 prepared=media)
            try:
                if limit > 0:
                    for token in gen:
                        if self._is_eog(token):
                            finish = "stop"
                            break
                        completion.append(token)
                        piece = self._piece(token)
                        hit = assembler.feed(piece)
                        entry = None
                        if logprobs is not None:
                            entry = self._token_logprobs(token, logprobs, text_offset)
                            text_offset += len(entry["tokens"][0])
                            lp_tokens += entry["tokens"]
                            lp_offsets += entry["text_offset"]
                            lp_values += entry["token_logprobs"]
                            lp_top += entry["top_logprobs"]
                        if hit:
                            finish = "stop"
                            break
                        if stream:
                            text = assembler.release()
                            if text or entry is not None:
                                yield chunk(text, entry, None)  # type: ignore[arg-type]
                        if len(completion) >= limit:
                            break
                    else:
                        finish = "stop"  # a stopping criterion ended generation
            finally:
                gen.close()
            if self.cache is not None and not media:
                self._save_to_cache(prompt_tokens, completion)
            usage = {
                "prompt_tokens": len(prompt_tokens),
                "completion_tokens": len(completion),
                "total_tokens": len(prompt_tokens) + len(completion),
            }
            if stream:
                rest = assembler.release(final=True)
                if rest:
                    yield chunk(rest, None, None)
                final = chunk("", None, finish)
            else:
                text = (prompt_text if echo else "") + assembler.text()
                lp = None
                if logprobs is not None:
                    lp = {"text_offset": lp_offsets, "token_logprobs": lp_values, "tokens": lp_tokens, "top_logprobs": lp_top}
                final = chunk(text, lp, finish)  # type: ignore[arg-type]
            final["usage"] = usage
            yield final

    def _logprob_row(self, idx: int) -> npt.NDArray[np.single]:
        assert self._ctx is not None
        return self.logits_to_logprobs(as_logits_view(C.llama_get_logits_ith(self._ctx.ctx, idx), self._n_vocab))

    def _piece_text(self, token: int) -> str:
        return self._piece(token).decode("utf-8", errors="ignore")

    def _token_logprobs(self, token: int, n: int, offset: int) -> CompletionLogprobs:
        """Logprobs of a just-sampled token (its logits row is still the context's last output)."""
        row = self._logprob_row(-1)
        value, top = top_logprobs_entry(row, token, n, self._piece_text)
        piece = self._piece_text(token)
        return {"tokens": [piece], "text_offset": [offset], "token_logprobs": [value], "top_logprobs": [top]}

    def _echo_logprobs(self, prompt_tokens: List[int], n: int, tokens: List[str], offsets: List[int],
                       values: List[Optional[float]], top: List[Optional[Dict[str, float]]]) -> None:
        """Logprobs of the prompt itself (needs every position's logits: logits_all=True)."""
        assert self._model is not None
        self._reset()
        self._eval(prompt_tokens)
        bos = self._model.token_bos()
        rows = self.logits_to_logprobs(self.scores[: len(prompt_tokens)])
        offset = 0
        for i, tok in enumerate(prompt_tokens):
            if i == 0 and tok == bos:
                continue
            piece = self._piece_text(tok)
            tokens.append(piece)
            offsets.append(offset)
            offset += len(piece)
            if i == 0:
                values.append(None)
                top.append(None)
            else:
                v, t = top_logprobs_entry(rows[i - 1], tok, n, self._piece_text)
                values.append(v)
                top.append(t)

    def _load_from_cache(self, prompt_tokens: List[int]) -> None:
        assert self.cache is not None
        try:
            state = self.cache[prompt_tokens]
        except KeyError:
            return
        have = self.longest_token_prefix(self._input_ids, prompt_tokens)
        cached = self.longest_token_prefix(state.input_ids[: state.n_tokens].tolist(), prompt_tokens)
        if cached > have:
            # through the public method, once per hit: code that wraps or overrides load_state sees restores
            self._restoring_from_cache = True
            try:
                self.load_state(state)
            finally:
                self._restoring_from_cache = False

    def _save_to_cache(self, prompt_tokens: List[int], completion: List[int]) -> None:
        assert self.cache is not None
        self.cache[prompt_tokens + completion] = self._save_state()

    @overload
    def create_completion(self, prompt: Union[str, List[int], List[str], List[List[int]]], suffix: Optional[str] = ..., max_tokens: Optional[int] = ...,
                          temperature: float = ..., top_p: float = ..., min_p: float = ..., typical_p: float = ...,
                          logprobs: Optional[int] = ..., echo: bool = ..., stop: Optional[Union[str, List[str]]] = ...,
                          frequency_penalty: float = ..., presence_penalty: float = ..., repeat_penalty: float = ...,
                          top_k: int = ..., stream: Literal[False] = ..., seed: Optional[int] = ..., tfs_z: float = ...,
                          mirostat_mode: int = ..., mirostat_tau: float = ..., mirostat_eta: float = ...,
                          model: Optional[str] = ..., stopping_criteria: Optional[StoppingCriteriaList] = ...,
                          logits_processor: Optional[LogitsProcessorList] = ..., grammar: Optional[LlamaGrammar] = ...,
                          logit_bias: Optional[Dict[int, float]] = ..., n: int = ..., best_of: Optional[int] = ...) -> CreateCompletionResponse: ...

    @overload
    def create_completion(self, prompt: Union[str, List[int], List[str], List[List[int]]], suffix: Optional[str] = ..., max_tokens: Optional[int] = ...,
                          temperature: float = ..., top_p: float = ..., min_p: float = ..., typical_p: float = ...,
                          logprobs: Optional[int] = ..., echo: bool = ..., stop: Optional[Union[str, List[str]]] = ...,
                          frequency_penalty: float = ..., presence_penalty: float = ..., repeat_penalty: float = ...,
                          top_k: int = ..., *, stream: Literal[True], seed: Optional[int] = ..., tfs_z: float = ...,
                          mirostat_mode: int = ..., mirostat_tau: float = ..., mirostat_eta: float = ...,
                          model: Optional[str] = ..., stopping_criteria: Optional[StoppingCriteriaList] = ...,
                          logits_processor: Optional[LogitsProcessorList] = ..., grammar: Optional[LlamaGrammar] = ...,
                          logit_bias: Optional[Dict[int, float]] = ..., n: int = ..., best_of: Optional[int] = ...) -> Iterator[CreateCompletionStreamResponse]: ...

    def create_completion(
        self,
        prompt: Union[str, List[int]],
        suffix: Optional[str] = None,
        max_tokens: Optional[int] = 16,
        temperature: float = 0.8,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        logprobs: Optional[int] = None,
        echo: bool = False,
        stop: Optional[Union[str, List[str]]] = [],
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        top_k: int = 40,
        stream: bool = False,
        seed: Optional[int] = None,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: Optional[str] = None,
        stopping_criteria: Optional[StoppingCriteriaList] = None,
        logits_processor: Optional[LogitsProcessorList] = None,
        grammar: Optional[LlamaGrammar] = None,
        logit_bias: Optional[Dict[int, float]] = None,
        n: int = 1,
        best_of: Optional[int] = None,
    ) -> Union[CreateCompletionResponse, Iterator[CreateCompletionStreamResponse]]:
        """Complete ``prompt``; a dict, or with ``stream=True`` an iterator of chunk dicts.

        Argument errors are raised here, before any chunk, also when streaming.
        """
        prompts = _prompt_list(prompt)
        n, best = _choice_counts(n, best_of)
        stops = normalize_stop(stop)
        if logit_bias is not None and not isinstance(logit_bias, dict):
            raise TypeError(f"logit_bias must be a dict of token id to bias, not {type(logit_bias).__name__}")
        params = self._sampling_params(
            temperature, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty, presence_penalty,
            mirostat_mode, mirostat_tau, mirostat_eta, grammar,
            {int(k): float(v) for k, v in logit_bias.items()} if logit_bias else None,
        )
        if logits_processor is not None and not callable(logits_processor):
            raise TypeError("logits_processor must be a LogitsProcessorList or a callable")
        batchable = self._batchable(prompt, echo, logprobs)
        if prompts is not None or best > 1 or (self.n_seq_max > 1 and batchable):
            if not batchable:
                raise LlamaArgumentError(
                    "several prompts, n > 1 and best_of are decoded as a batch, which needs a Llama without "
                    "draft_model, logits_all or a prompt cache (set_cache), and no echo with logprobs; "
                    "call create_completion once per prompt instead"
                )
            return self._batched_completion(prompts if prompts is not None else [prompt], suffix, max_tokens, params,
                                            logprobs, echo, stops, stream, seed, model, stopping_criteria,
                                            logits_processor, n, best)
        events = self._completion_events(prompt, suffix, max_tokens, params, logprobs, echo, stops, stream, seed,
                                         model, stopping_criteria, logits_processor)
        if stream:
            first = next(events)  # validate and start now, so errors surface at the call

            def chunks() -> Iterator[CreateCompletionStreamResponse]:
                # each chunk goes out as soon as its token is sampled (no look-ahead: a consumer that stops
                # early has not paid for a token it never sees); stream chunks carry no usage, as in the reference
                try:
                    for event in itertools.chain((first,), events):
                        event.pop("usage", None)
                        yield event  # type: ignore[misc]
                finally:
                    events.close()

            return chunks()
        result = next(events)  # without stream, the only event is the finished completion
        events.close()
        return result  # type: ignore[return-value]

    def _batchable(self, prompt: Any, echo: bool, logprobs: Optional[int]) -> bool:
        """Whether a completion can run as batched sequences (else: the single-sequence path)."""
        return (not isinstance(prompt, MediaPrompt) and self.draft_model is None and not self._logits_all
                and self.cache is None and not (echo and logprobs is not None))

    def _batched_completion(
        self, prompts: List[Any], suffix: Optional[str], max_tokens: Optional[int], params: SamplingParams,
        logprobs: Optional[int], echo: bool, stops: List[bytes], stream: bool, seed: Optional[int],
        model: Optional[str], stopping_criteria: Optional[StoppingCriteriaList],
        logits_processor: Optional[LogitsProcessorList], n: int, best_of: int,
    ) -> Any:
        """Every prompt's ``best_of`` candidates as sequences of one batch (see :mod:`llama_cpp._batching`)."""
        self._require_open()
        assert self._model is not None and self._scheduler is not None
        if stream and best_of > n:
            raise LlamaArgumentError("best_of > n ranks finished choices, so it cannot be streamed; pass stream=False")
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
            raise TypeError(f"max_tokens must be an int or None, not {type(max_tokens).__name__}")
        if logprobs is not None and (isinstance(logprobs, bool) or not isinstance(logprobs, int) or logprobs < 0):
            raise ValueError(f"logprobs must be a non-negative int, not {logprobs!r}")
        if echo and not all(isinstance(p, str) for p in prompts):
            raise TypeError("echo needs a str prompt (the prompt text is echoed)")
        token_prompts: List[List[int]] = []
        for p in prompts:
            tokens = self._prompt_tokens(p, suffix)
            if not tokens:
                bos = self._model.token_bos()
                tokens = [bos if bos != -1 else self._model.token_eos()]
            self._check_prompt(tokens)
            token_prompts.append(tokens)
        SamplerChain(self._model, params).close()  # parameter errors surface here, once, not per sequence
        self._next_seed(seed)
        base = self._seed
        requests: List[GenerationRequest] = []
        texts: List[str] = []
        for p, tokens in zip(prompts, token_prompts):
            room = self._n_ctx - len(tokens)
            limit = room if max_tokens is None or max_tokens <= 0 else min(max_tokens, room)
            share = object() if best_of > 1 else None  # one prompt evaluation, copied to its siblings
            for j in range(best_of):
                requests.append(GenerationRequest(
                    list(tokens), dataclasses.replace(params, seed=(base + j) & 0xFFFFFFFF), limit, logprobs=logprobs,
                    score=best_of > n, logits_processor=logits_processor, stopping_criteria=stopping_criteria,
                    share_prompt=share,
                ))
                texts.append(p if isinstance(p, str) else "")
        header = {"id": f"cmpl-{uuid.uuid4()}", "object": "text_completion", "created": int(time.time()),
                  "model": model if model is not None else self.model_path}
        job = BatchedCompletion(self._scheduler, requests, texts, n, best_of, sum(len(t) for t in token_prompts),
                                self._piece, stops, echo, header)
        return job.stream() if stream else job.result()

    def __call__(self, prompt: str, *args: Any, **kwargs: Any) -> Union[CreateCompletionResponse, Iterator[CreateCompletionStreamResponse]]:
        return self.create_completion(prompt, *args, **kwargs)

    # ------------------------------------------------------------ chat
    def create_chat_completion(
        self,
        messages: List[ChatCompletionRequestMessage],
        functions: Optional[List[Any]] = None,
        function_call: Optional[Any] = None,
        tools: Optional[List[ChatCompletionTool]] = None,
        tool_choice: Optional[ChatCompletionToolChoiceOption] = None,
        temperature: float = 0.2,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        stream: bool = False,
        stop: Optional[Union[str, List[str]]] = [],
        seed: Optional[int] = None,
        response_format: Optional[ChatCompletionRequestResponseFormat] = None,
        max_tokens: Optional[int] = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: Optional[str] = None,
        logits_processor: Optional[LogitsProcessorList] = None,
        grammar: Optional[LlamaGrammar] = None,
        logit_bias: Optional[Dict[int, float]] = None,
        logprobs: Optional[bool] = None,
        top_logprobs: Optional[int] = None,
        **kwargs: Any,
    ) -> Union[CreateChatCompletionResponse, Iterator[CreateChatCompletionStreamResponse]]:
        """Chat with the model; a dict, or with ``stream=True`` an iterator of chunk dicts.

        Extra keyword arguments reach the chat handler: template variables such as
        ``enable_thinking``, and OpenAI request fields (``parallel_tool_calls``, ``n``, ``user``).
        """
        from ._chat.dispatch import create_chat_completion

        return create_chat_completion(
            self, messages=messages, functions=functions, function_call=function_call, tools=tools,
            tool_choice=tool_choice, temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p,
            typical_p=typical_p, stream=stream, stop=stop, seed=seed, response_format=response_format,
            max_tokens=max_tokens, presence_penalty=presence_penalty, frequency_penalty=frequency_penalty,
            repeat_penalty=repeat_penalty, tfs_z=tfs_z, mirostat_mode=mirostat_mode, mirostat_tau=mirostat_tau,
            mirostat_eta=mirostat_eta, model=model, logits_processor=logits_processor, grammar=grammar,
            logit_bias=logit_bias, logprobs=logprobs, top_logprobs=top_logprobs, **kwargs,
        )

    def create_chat_completion_openai_v1(self, *args: Any, **kwargs: Any) -> Any:
        """:meth:`create_chat_completion`, returning ``openai`` package objects."""
        from ._chat.dispatch import create_chat_completion_openai_v1

        return create_chat_completion_openai_v1(self, *args, **kwargs)

    # ------------------------------------------------------------ embeddings
    def embed(
        self,
        input: Union[str, List[str]],
        normalize: bool = False,
        truncate: bool = True,
        return_count: bool = False,
    ) -> Any:
        """Embeddings of one text or many (many are decoded together, several sequences per batch)."""
        if not self.context_params.embeddings:
            raise RuntimeError("Llama model must be created with embedding=True to call this method")
        if isinstance(input, str):
            inputs, single = [input], True
        elif isinstance(input, list) and all(isinstance(x, str) for x in input):
            inputs, single = input, False
        else:
            raise TypeError("input must be a str or a list of str")
        with self._busy(exclusive=True):
            self._require_open()
            assert self._ctx is not None and self._batch is not None and self._model is not None
            ctx = self._ctx.ctx
            pooling_none = self._ctx.pooling_type() == C.LLAMA_POOLING_TYPE_NONE
            n_embd = self.n_embd()
            n_seq_max = max(int(self.context_params.n_seq_max), 1)
            results: List[Any] = []
            total = 0
            batch_seqs: List[int] = []  # lengths of the sequences in the current batch

            def flush() -> None:
                if not batch_seqs:
                    return
                self._ctx.kv_cache_clear()  # type: ignore[union-attr]
                rc = C.llama_decode(ctx, self._batch.batch)  # type: ignore[union-attr]
                if rc != 0:
                    raise RuntimeError(f"llama_decode returned {rc}")
                row = 0
                for seq, length in enumerate(batch_seqs):
                    out: Any
                    if pooling_none:
                        emb = np.ctypeslib.as_array(C.llama_get_embeddings(ctx), shape=(self._batch.n_tokens(), n_embd))  # type: ignore[union-attr]
                        vecs = emb[row: row + length]
                        out = [normalize_embedding(v) if normalize else v.tolist() for v in vecs]
                    else:
                        ptr = C.llama_get_embeddings_seq(ctx, seq)
                        if not ptr:
                            raise RuntimeError("llama.cpp returned no pooled embedding; pass pooling_type to Llama()")
                        v = np.ctypeslib.as_array(ptr, shape=(n_embd,))
                        out = normalize_embedding(v) if normalize else v.tolist()
                    results.append(out)
                    row += length
                batch_seqs.clear()
                self._batch.reset()  # type: ignore[union-attr]

            self._batch.reset()
            for text in inputs:
                tokens = self.tokenize(text.encode("utf-8"))
                if len(tokens) > self.n_batch:
                    if not truncate:
                        raise ValueError(f"Requested tokens ({len(tokens)}) exceed batch size of {self.n_batch}")
                    tokens = tokens[: self.n_batch]
                total += len(tokens)
                if self._batch.n_tokens() + len(tokens) > self.n_batch or len(batch_seqs) >= n_seq_max:
                    flush()
                self._batch.add_sequence(tokens, len(batch_seqs), logits_all=True)
                batch_seqs.append(len(tokens))
            flush()
            self._ctx.kv_cache_clear()
            self._reset()
        result = results[0] if single else results
        return (result, total) if return_count else result

    def create_embedding(self, input: Union[str, List[str]], model: Optional[str] = None) -> CreateEmbeddingResponse:
        inputs = [input] if isinstance(input, str) else input
        embeds, total = self.embed(inputs, return_count=True)
        data: List[Embedding] = [{"object": "embedding", "embedding": e, "index": i} for i, e in enumerate(embeds)]
        return {
            "object": "list",
            "data": data,
            "model": model if model is not None else self.model_path,
            "usage": {"prompt_tokens": total, "total_tokens": total},
        }

    # ------------------------------------------------------------ state
    def save_state(self) -> LlamaState:
        with self._busy(exclusive=True):
            return self._save_state()

    def _save_state(self) -> LlamaState:
        self._require_open()
        assert self._ctx is not None
        size = C.llama_state_get_size(self._ctx.ctx)
        buf = (ctypes.c_uint8 * size)()
        written = C.llama_state_get_data(self._ctx.ctx, buf, size)
        if written > size:
            raise RuntimeError("Failed to copy llama state data")
        if self._logits_all:
            scores = self._scores.copy()
        elif self._logits_fresh and self.n_tokens > 0:
            scores = as_logits_view(C.llama_get_logits_ith(self._ctx.ctx, -1), self._n_vocab).reshape(1, -1).copy()
        else:
            scores = np.zeros((0, self._n_vocab), dtype=np.single)
        return LlamaState(
            input_ids=self.input_ids.copy(),
            scores=scores,
            n_tokens=self.n_tokens,
            llama_state=bytes(memoryview(buf)[:written]),
            llama_state_size=written,
            seed=self._seed,
            logits_valid=self._logits_fresh,
        )

    def load_state(self, state: LlamaState) -> None:
        if self._restoring_from_cache and self._owner == threading.get_ident():
            self._load_state(state)  # a prompt-cache hit inside a completion, which already holds this Llama
            return
        with self._busy(exclusive=True):
            self._load_state(state)

    def _load_state(self, state: LlamaState) -> None:
        self._require_open()
        assert self._ctx is not None
        if len(state.input_ids) > len(self.input_ids):
            raise ValueError("this state was saved from a Llama with a larger context (n_ctx)")
        n = state.n_tokens
        self.input_ids[: len(state.input_ids)] = state.input_ids
        if self._logits_all and len(state.scores):
            rows = min(n, len(state.scores))
            self._grow_scores(rows)
            self.scores[:rows] = state.scores[:rows]
        data = ctypes.cast(ctypes.c_char_p(state.llama_state), ctypes.POINTER(ctypes.c_uint8))  # no copy
        if C.llama_state_set_data(self._ctx.ctx, data, state.llama_state_size) != state.llama_state_size:
            raise RuntimeError("Failed to set llama state data")
        self.n_tokens = n
        self._seed = state.seed
        self._logits_fresh = False  # the native state does not carry logits...
        if getattr(state, "logits_valid", False) and n > 0 and len(state.scores):
            self._restored_logits = np.asarray(state.scores[-1], dtype=np.single)  # ...so the state does

    # ------------------------------------------------------------ hub
    @classmethod
    def from_pretrained(
        cls,
        repo_id: str,
        filename: Optional[str],
        additional_files: Optional[List[str]] = None,
        local_dir: Optional[Union[str, os.PathLike[str]]] = None,
        local_dir_use_symlinks: Union[bool, Literal["auto"]] = "auto",
        cache_dir: Optional[Union[str, os.PathLike[str]]] = None,
        **kwargs: Any,
    ) -> Llama:
        """Download a GGUF from the Hugging Face Hub (glob ``filename``) and load it."""
        from ._hub import download_model

        path = download_model(repo_id, filename, additional_files, local_dir, local_dir_use_symlinks, cache_dir)
        return cls(model_path=path, **kwargs)

