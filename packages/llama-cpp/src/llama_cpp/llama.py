"""The high-level `Llama`: completion, chat, embeddings, state, caching.

This module is the facade users read: the constructor, the public methods,
their signatures and docstrings. The work happens in private modules, each
named after what it holds:

* `_params`: constructor arguments as llama.cpp parameter structs;
* `_engine`: the model, context, LoRA, batches and the lock;
* `_sequence`: one sequence's state (the default one, and batched ones);
* `_generate`: the single-sequence token loop (step, stream; speculative drafting);
* `_single_completion`: the complete layer on the default sequence;
* `_batching`: continuous batching of many sequences (lists of prompts,
  ``n`` and ``best_of``, concurrent callers, the server);
* `_completion`: text assembly, stop strings, chunks, logprobs;
* `_prompt`: prompts as tokens, and their checks;
* `_embedding` and `_state`.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
import threading
import time
import uuid
import warnings
from collections import deque
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

from . import _generate, _params, _state
from . import llama_cpp as C
from ._completion import BatchedCompletion, log_softmax, normalize_stop
from ._embedding import embed as _embed
from ._engine import Engine
from ._errors import ContextOverflowError, LlamaArgumentError, LlamaClosedError, LlamaDecodeError, LlamaError
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
from ._prompt import check_prompt, choice_counts, non_empty, prompt_list, prompt_tokens
from ._sampling import SamplerChain, SamplingParams
from ._sequence import GenerationRequest
from ._single_completion import completion_events
from ._state import LlamaState
from ._utils import common_prefix_length, suppress_stdout_stderr
from .llama_cache import BaseLlamaCache, LlamaCache, LlamaDiskCache, LlamaRAMCache
from .llama_speculative import LlamaDraftModel
from .llama_tokenizer import BaseLlamaTokenizer, LlamaTokenizer
from .llama_types import (
    ChatCompletionRequestMessage,
    ChatCompletionRequestResponseFormat,
    ChatCompletionTool,
    ChatCompletionToolChoiceOption,
    CreateChatCompletionResponse,
    CreateChatCompletionStreamResponse,
    CreateCompletionResponse,
    CreateCompletionStreamResponse,
    CreateEmbeddingResponse,
    Embedding,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._internals import LlamaContext, LlamaModel
    from ._sequence import Sequence as _Sequence
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
    "LlamaError",
    "LlamaArgumentError",
    "ContextOverflowError",
    "LlamaClosedError",
    "LlamaDecodeError",
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


_CONSTRUCTOR_PARAMS = (
    "n_gpu_layers", "split_mode", "main_gpu", "tensor_split", "vocab_only", "use_mmap", "use_mlock",
    "kv_overrides", "seed", "n_ctx", "n_batch", "n_ubatch", "n_threads", "n_threads_batch",
    "rope_scaling_type", "pooling_type", "attention_type", "rope_freq_base", "rope_freq_scale",
    "yarn_ext_factor", "yarn_attn_factor", "yarn_beta_fast", "yarn_beta_slow", "yarn_orig_ctx",
    "logits_all", "embedding", "offload_kqv", "flash_attn", "op_offload", "swa_full", "no_perf",
    "last_n_tokens_size", "lora_base", "lora_scale", "lora_path", "numa", "chat_format", "chat_handler",
    "draft_model", "type_k", "type_v", "spm_infill", "verbose", "n_seq_max",
)
_ACCEPTED_EXTRA_KWARGS = {"rpc_servers", "mul_mat_q"}


class Llama:
    """A llama.cpp model and inference context, with the ``llama-cpp-python`` API.

    Instances may be shared between threads. With ``n_seq_max=1`` (the
    default) calls on one instance run one at a time (a stream holds the
    instance until it is exhausted or closed); with ``n_seq_max=N``,
    completions from several threads are decoded together in shared batches.
    Separate instances run in parallel. Use it as a context manager, or call
    `close`, to free native memory deterministically.
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
        """Load a GGUF model and create its context.

        Args:
            model_path: Path to the GGUF file.
            n_gpu_layers: Layers to offload to accelerators (-1: all).
            split_mode: How to split the model across devices (``LLAMA_SPLIT_MODE_*``).
            main_gpu: The device for the whole model (``split_mode`` none) or for intermediate results.
            tensor_split: Fraction of the model per device.
            vocab_only: Load only the vocabulary (tokenize, no inference).
            use_mmap: Map the file instead of reading it.
            use_mlock: Lock the weights in RAM.
            kv_overrides: GGUF metadata values to override.
            seed: The seed sampling starts from (``LLAMA_DEFAULT_SEED``: random).
            n_ctx: Context size in tokens (0: the model's training context). Shared by all sequences.
            n_batch: The most tokens one decode call takes.
            n_ubatch: The physical micro-batch size.
            n_threads: Threads for generation (default: half the CPUs).
            n_threads_batch: Threads for prompt processing (default: all CPUs).
            rope_scaling_type: RoPE scaling (``LLAMA_ROPE_SCALING_TYPE_*``).
            pooling_type: Embedding pooling (``LLAMA_POOLING_TYPE_*``).
            attention_type: Causal or non-causal attention for embeddings.
            rope_freq_base: RoPE base frequency (0: from the model).
            rope_freq_scale: RoPE frequency scale (0: from the model).
            yarn_ext_factor: YaRN extrapolation mix factor.
            yarn_attn_factor: YaRN magnitude scaling factor.
            yarn_beta_fast: YaRN low correction dimension.
            yarn_beta_slow: YaRN high correction dimension.
            yarn_orig_ctx: YaRN original context size.
            logits_all: Keep every position's logits (needed for ``echo`` with ``logprobs``).
            embedding: Create an embedding context (``embed``, ``create_embedding``).
            offload_kqv: Keep the KV cache on the accelerator.
            flash_attn: Use flash attention.
            op_offload: Offload host operations to the accelerator.
            swa_full: Full-size cache for sliding-window attention.
            no_perf: Do not collect performance timings.
            last_n_tokens_size: How many recent tokens repetition penalties look at.
            lora_base: Accepted for compatibility (llama.cpp no longer uses it).
            lora_scale: Scale of the LoRA adapter.
            lora_path: A LoRA adapter to apply.
            numa: NUMA strategy (``True``: distribute).
            chat_format: A registered chat format name (default: from the model's metadata).
            chat_handler: A chat handler, overriding ``chat_format``.
            draft_model: A draft model for speculative decoding.
            tokenizer: A tokenizer to use instead of the model's.
            type_k: KV cache data type for K (``GGML_TYPE_*``).
            type_v: KV cache data type for V.
            spm_infill: Put the suffix before the prefix in fill-in-the-middle prompts.
            verbose: Log everything llama.cpp says (else only errors).
            n_seq_max: Sequences decoded together: lists of prompts, ``n`` choices and concurrent callers
                share one batch per step, and the ``n_ctx`` cells. 1 keeps single-sequence behaviour.
            **kwargs: ``rpc_servers`` (``"host:port,host:port"``); other names are warned about and ignored.

        Raises:
            ValueError: A path that does not exist or is not a GGUF model, or a bad argument.
            RuntimeError: llama.cpp could not create the context or apply the LoRA adapter.
        """
        self._engine: Optional[Engine] = None  # first: close() relies on it, also after a failed constructor
        self._restoring_from_cache = False
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
        self.tensor_split = tensor_split
        self.kv_overrides = kv_overrides
        self.model_params, self._param_arrays = _params.model_params(
            n_gpu_layers=n_gpu_layers, split_mode=split_mode, main_gpu=main_gpu, tensor_split=tensor_split,
            vocab_only=vocab_only, use_mmap=use_mmap, use_mlock=use_mlock, kv_overrides=kv_overrides,
            lora_path=lora_path,
        )
        self.context_params = _params.context_params(
            n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_ubatch, n_threads=n_threads, n_threads_batch=n_threads_batch,
            rope_scaling_type=rope_scaling_type, pooling_type=pooling_type, attention_type=attention_type,
            rope_freq_base=rope_freq_base, rope_freq_scale=rope_freq_scale, yarn_ext_factor=yarn_ext_factor,
            yarn_attn_factor=yarn_attn_factor, yarn_beta_fast=yarn_beta_fast, yarn_beta_slow=yarn_beta_slow,
            yarn_orig_ctx=yarn_orig_ctx, embedding=embedding, offload_kqv=offload_kqv, flash_attn=flash_attn,
            op_offload=op_offload, swa_full=swa_full, type_k=type_k, type_v=type_v, no_perf=no_perf,
            n_seq_max=n_seq_max,
        )
        if self._rpc_devices is not None:  # the model goes to its own RPC servers (and local GPUs), not others'
            self.model_params.devices = self._rpc_devices
        self.n_seq_max = n_seq_max
        self.n_threads = int(self.context_params.n_threads)
        self.n_threads_batch = int(self.context_params.n_threads_batch)
        self._seed = seed or C.LLAMA_DEFAULT_SEED
        self.last_n_tokens_size = last_n_tokens_size
        self.lora_base = lora_base
        self.lora_scale = lora_scale
        self.lora_path = lora_path
        self.spm_infill = spm_infill
        self.draft_model = draft_model
        self.cache: Optional[BaseLlamaCache] = None

        self._engine = Engine(model_path, self.model_params, self.context_params, n_batch, n_ubatch, n_seq_max,
                              logits_all, lora_path, lora_scale, verbose)
        self.n_batch = self._engine.n_batch
        self.tokenizer_ = tokenizer or LlamaTokenizer(self)
        try:
            self.metadata: Dict[str, str] = self._engine.model.metadata()  # type: ignore[union-attr]
        except Exception as e:  # metadata is informative; never fatal
            logger.warning("could not read the model's metadata: %s", e)
            self.metadata = {}

        self.chat_format = chat_format
        self.chat_handler = chat_handler
        self._chat_handlers: Dict[str, Any] = {}
        from ._chat.dispatch import chat_setup

        chat_setup(self)

    # ------------------------------------------------------------ the state users and handlers read
    @property
    def _seq(self) -> _Sequence:
        """The default sequence (``eval``, ``generate``, state)."""
        engine = self._open_engine()
        assert engine.default is not None
        return engine.default

    def _open_engine(self) -> Engine:
        if self._engine is None:
            raise LlamaArgumentError("this Llama failed to load; create a new one")
        return self._engine

    @property
    def _model(self) -> Optional[LlamaModel]:
        return self._engine.model if self._engine is not None else None

    @property
    def _ctx(self) -> Optional[LlamaContext]:
        return self._engine.ctx if self._engine is not None else None

    @property
    def _stack(self) -> Any:
        return self._open_engine().stack

    def _busy(self, exclusive: bool = False) -> Any:
        return self._open_engine().busy(exclusive)

    def _require_open(self) -> None:
        self._open_engine().require_open()

    @property
    def _scheduler(self) -> Any:
        return self._engine.scheduler if self._engine is not None else None

    @property
    def _n_ctx(self) -> int:
        return self._open_engine().n_ctx

    @property
    def _logits_all(self) -> bool:
        return self._open_engine().logits_all

    @property
    def ctx(self) -> Optional[int]:
        """The ``llama_context *`` handle (None once closed)."""
        return self._ctx.ctx if self._ctx else None

    @property
    def model(self) -> Optional[int]:
        """The ``llama_model *`` handle (None once closed)."""
        return self._model.model if self._model else None

    @property
    def n_tokens(self) -> int:
        """How many tokens the default sequence has evaluated."""
        return self._seq.n_tokens

    @n_tokens.setter
    def n_tokens(self, value: int) -> None:
        self._seq.n_tokens = value

    @property
    def input_ids(self) -> npt.NDArray[np.intc]:
        """The default sequence's tokens (``input_ids[:n_tokens]`` are evaluated)."""
        return self._seq.input_ids

    @property
    def scores(self) -> npt.NDArray[np.single]:
        """Logits rows of the evaluated positions (with ``logits_all``; else the last one)."""
        return self._seq.scores

    @property
    def _input_ids(self) -> npt.NDArray[np.intc]:
        return self._seq.tokens

    @property
    def _scores(self) -> npt.NDArray[np.single]:
        seq = self._seq
        return seq.scores[: seq.n_tokens, :] if seq.logits_all else seq.scores[:1, :]

    @property
    def eval_tokens(self) -> Deque[int]:
        """The evaluated tokens, as a deque."""
        return deque(self._seq.tokens.tolist(), maxlen=self._n_ctx)

    @property
    def eval_logits(self) -> Deque[List[float]]:
        """The evaluated positions' logits rows, as a deque."""
        return deque(self._scores.tolist(), maxlen=self._n_ctx if self._logits_all else 1)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Free the context, the model and everything attached (idempotent)."""
        engine = self._engine
        if engine is None:
            return
        with engine.hold():
            engine.close()

    def __enter__(self) -> Llama:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __getstate__(self) -> Dict[str, Any]:
        return dict(model_path=self.model_path, **self._constructor_args)

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    # ------------------------------------------------------------ vocabulary
    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> List[int]:
        """Turn UTF-8 bytes into token ids.

        Args:
            text: The text, as bytes.
            add_bos: Add the BOS token if the model wants one.
            special: Parse special tokens (``<|im_start|>``, ...) in the text.

        Returns:
            The token ids.

        Raises:
            TypeError: ``text`` is a ``str`` (encode it first).
        """
        if isinstance(text, str):
            raise TypeError("tokenize() takes bytes; use text.encode('utf-8')")
        self._require_open()
        return self.tokenizer_.tokenize(text, add_bos, special)

    def _tokenize_raw(self, text: bytes, add_bos: bool, special: bool) -> List[int]:
        return self.tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: List[int], prev_tokens: Optional[List[int]] = None, special: bool = False) -> bytes:
        """Turn token ids back into UTF-8 bytes.

        Args:
            tokens: The token ids.
            prev_tokens: Tokens that came before (spacing at the start depends on them).
            special: Render special tokens as their text.

        Returns:
            The bytes.
        """
        self._require_open()
        return self.tokenizer_.detokenize(tokens, prev_tokens=prev_tokens, special=special)

    def set_cache(self, cache: Optional[BaseLlamaCache]) -> None:
        """Use ``cache`` (or none) to keep and restore states by prompt prefix."""
        self.cache = cache

    def set_seed(self, seed: int) -> None:
        """Sample from ``seed`` on."""
        self._seed = seed

    def reset(self) -> None:
        """Forget the evaluated tokens (their KV cells are reused or cleared lazily)."""
        engine = self._open_engine()
        with engine.busy():
            engine.reset_default()

    def _reset(self) -> None:
        self._open_engine().reset_default()

    def n_ctx(self) -> int:
        """The context size in tokens."""
        self._require_open()
        return self._open_engine().n_ctx

    def n_embd(self) -> int:
        """The embedding size."""
        self._require_open()
        return self._model.n_embd()  # type: ignore[union-attr]

    def n_vocab(self) -> int:
        """The vocabulary size."""
        self._require_open()
        return self._open_engine().n_vocab

    def tokenizer(self) -> LlamaTokenizer:
        """This model's tokenizer as a `LlamaTokenizer`."""
        return LlamaTokenizer(self)

    def token_eos(self) -> int:
        """The end-of-sequence token id."""
        assert self._model is not None
        return self._model.token_eos()

    def token_bos(self) -> int:
        """The beginning-of-sequence token id."""
        assert self._model is not None
        return self._model.token_bos()

    def token_nl(self) -> int:
        """The newline token id."""
        assert self._model is not None
        return self._model.token_nl()

    def pooling_type(self) -> int:
        """The context's embedding pooling (``LLAMA_POOLING_TYPE_*``)."""
        assert self._ctx is not None
        return self._ctx.pooling_type()

    @staticmethod
    def logits_to_logprobs(logits: Union[npt.NDArray[np.single], List[Any]], axis: int = -1) -> npt.NDArray[np.single]:
        """Log-softmax of ``logits`` along ``axis``, numerically stable, in float32."""
        return log_softmax(logits, axis)

    @staticmethod
    def longest_token_prefix(a: Union[Sequence[int], npt.NDArray[np.intc]], b: Union[Sequence[int], npt.NDArray[np.intc]]) -> int:
        """How many leading tokens ``a`` and ``b`` share."""
        return common_prefix_length(a, b)

    # ------------------------------------------------------------ step
    def eval(self, tokens: Sequence[int]) -> None:
        """Evaluate ``tokens`` after the ``n_tokens`` already evaluated ones.

        Raises:
            ValueError: A token id outside the vocabulary, or more tokens than the context holds.
        """
        engine = self._open_engine()
        with engine.busy():
            _generate.evaluate(engine, self._seq, _generate.check_tokens(engine, tokens))

    def _eval(self, tokens: List[int], all_outputs: bool = False, explicit_positions: bool = False) -> None:
        _generate.evaluate(self._open_engine(), self._seq, tokens, all_outputs, explicit_positions)

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
        """Pick the next token from the logits of the last evaluated position.

        Args:
            top_k: Keep the k most likely tokens (0: all).
            top_p: Keep the smallest set whose probability reaches p.
            min_p: Drop tokens less likely than p times the most likely one.
            typical_p: Locally typical sampling (1.0: off).
            temp: Temperature (0: greedy).
            repeat_penalty: Penalty for tokens seen recently (1.0: off).
            frequency_penalty: Penalty growing with each token's count.
            presence_penalty: Penalty for any token seen.
            tfs_z: Accepted for compatibility (llama.cpp removed tail-free sampling).
            mirostat_mode: 0 off, 1 Mirostat, 2 Mirostat 2.0.
            mirostat_eta: Mirostat learning rate.
            mirostat_tau: Mirostat target entropy.
            penalize_nl: Accepted for compatibility.
            logits_processor: Python processors applied to the logits first.
            grammar: Constrain the token to a grammar.
            idx: Sample from the logits of this position instead (needs them kept, e.g. ``logits_all``).

        Returns:
            The token id.

        Raises:
            RuntimeError: Nothing evaluated yet.
        """
        engine = self._open_engine()
        with engine.busy():
            params = self._sampling_params(temp, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty,
                                           presence_penalty, mirostat_mode, mirostat_tau, mirostat_eta, grammar)
            return _generate.sample_once(engine, self._seq, params, logits_processor, idx)

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
        The instance is held until the generator is exhausted or closed.

        Args:
            tokens: The prompt as token ids.
            top_k: See `sample`.
            top_p: See `sample`.
            min_p: See `sample`.
            typical_p: See `sample`.
            temp: See `sample`.
            repeat_penalty: See `sample`.
            reset: Start from ``tokens`` (reusing the shared prefix) instead of continuing.
            frequency_penalty: See `sample`.
            presence_penalty: See `sample`.
            tfs_z: Accepted for compatibility.
            mirostat_mode: See `sample`.
            mirostat_tau: See `sample`.
            mirostat_eta: See `sample`.
            penalize_nl: Accepted for compatibility.
            logits_processor: Python processors applied before each sample.
            stopping_criteria: Python criteria asked after each sample; True ends the stream.
            grammar: Constrain the tokens to a grammar.

        Yields:
            Token ids.
        """
        params = self._sampling_params(temp, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty,
                                       presence_penalty, mirostat_mode, mirostat_tau, mirostat_eta, grammar)
        return self._generate(list(tokens), params, reset, logits_processor, stopping_criteria)

    def _generate(
        self,
        tokens: List[int],
        params: SamplingParams,
        reset: bool,
        logits_processor: Optional[LogitsProcessorList],
        stopping_criteria: Optional[StoppingCriteriaList],
    ) -> Generator[int, Optional[Sequence[int]], None]:
        engine = self._open_engine()
        with engine.busy():
            return (yield from _generate.generate(engine, self._seq, tokens, params, reset, logits_processor,
                                                  stopping_criteria, self.draft_model))

    # ------------------------------------------------------------ complete
    def _next_seed(self, seed: Optional[int]) -> None:
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise TypeError(f"seed must be an int, not {type(seed).__name__}")
            self.set_seed(seed)
        else:
            self.set_seed(random.Random(self._seed).randint(0, 2**32 - 1))

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
        prompt: Union[str, List[int], List[str], List[List[int]]],
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
        """Complete a prompt (or several); a response dict, or with ``stream=True`` an iterator of chunks.

        A list of strings (or of token lists) is several prompts: one choice each
        (``index`` = position in the list), decoded together in shared batches. A
        list of ints is one prompt. Argument errors are raised here, before any
        chunk, also when streaming.

        Args:
            prompt: The text, token ids, or a list of prompts.
            suffix: Text after the completion (fill-in-the-middle models).
            max_tokens: The most tokens to generate (None or <= 0: until the context is full).
            temperature: Sampling temperature (0: greedy).
            top_p: See `sample`.
            min_p: See `sample`.
            typical_p: See `sample`.
            logprobs: Return the log-probability of each token and of this many alternatives.
            echo: Start the text with the prompt.
            stop: Strings that end the completion (not included).
            frequency_penalty: See `sample`.
            presence_penalty: See `sample`.
            repeat_penalty: See `sample`.
            top_k: See `sample`.
            stream: Return an iterator of chunks as tokens are sampled.
            seed: The seed for this completion (choices get ``seed``, ``seed + 1``, ...).
            tfs_z: Accepted for compatibility.
            mirostat_mode: See `sample`.
            mirostat_tau: See `sample`.
            mirostat_eta: See `sample`.
            model: The ``model`` name reported in the response.
            stopping_criteria: Python criteria asked after each token.
            logits_processor: Python processors applied before each sample.
            grammar: Constrain the completion to a grammar.
            logit_bias: Token id -> bias added to its logit.
            n: Choices per prompt. The prompt is evaluated once and its KV cells copied; choices differ
                when sampling and are identical when greedy.
            best_of: Generate this many candidates per prompt and return the ``n`` with the highest mean
                token log-probability (not with ``stream``).

        Returns:
            A ``CreateCompletionResponse``, or an iterator of ``CreateCompletionStreamResponse`` chunks.

        Raises:
            ValueError: A prompt longer than the context, a bad argument, or ``best_of < n``.
            TypeError: An argument of the wrong type.
        """
        prompts = prompt_list(prompt)
        n, best = choice_counts(n, best_of)
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
        events = completion_events(self, prompt, suffix, max_tokens, params, logprobs, echo, stops, stream, seed,
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
        """Every prompt's ``best_of`` candidates as sequences of one batch (see `llama_cpp._batching`)."""
        engine = self._open_engine()
        engine.require_open()
        model_obj = engine.model
        assert model_obj is not None and engine.scheduler is not None
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
            tokens = non_empty(model_obj, prompt_tokens(model_obj, self._tokenize_raw, engine.n_vocab, p, suffix,
                                                        self.spm_infill))
            check_prompt(model_obj, engine.n_ctx, tokens)
            token_prompts.append(tokens)
        SamplerChain(model_obj, params).close()  # parameter errors surface here, once, not per sequence
        self._next_seed(seed)
        base = self._seed
        requests: List[GenerationRequest] = []
        texts: List[str] = []
        for p, tokens in zip(prompts, token_prompts):
            room = engine.n_ctx - len(tokens)
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
        job = BatchedCompletion(engine.scheduler, requests, texts, n, best_of, sum(len(t) for t in token_prompts),
                                engine.piece, stops, echo, header)
        return job.stream() if stream else job.result()

    def __call__(self, prompt: str, *args: Any, **kwargs: Any) -> Union[CreateCompletionResponse, Iterator[CreateCompletionStreamResponse]]:
        """Same as `create_completion`.

        Args:
            prompt: The prompt (or prompts).
            *args: `create_completion`'s further arguments, in order.
            **kwargs: `create_completion`'s further arguments, by name.

        Returns:
            What `create_completion` returns.
        """
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
        n: int = 1,
        **kwargs: Any,
    ) -> Union[CreateChatCompletionResponse, Iterator[CreateChatCompletionStreamResponse]]:
        """Chat with the model; a response dict, or with ``stream=True`` an iterator of chunks.

        The prompt is built by the chat handler: ``chat_handler``, else the
        ``chat_format`` (by default the model's own template).

        Args:
            messages: The conversation (OpenAI message dicts).
            functions: Legacy function definitions.
            function_call: Legacy function choice.
            tools: Tool definitions.
            tool_choice: ``"none"``, ``"auto"``, ``"required"`` or a named function.
            temperature: Sampling temperature (0: greedy).
            top_p: See `sample`.
            top_k: See `sample`.
            min_p: See `sample`.
            typical_p: See `sample`.
            stream: Return an iterator of chunks.
            stop: Strings that end the answer.
            seed: The seed for this answer.
            response_format: ``{"type": "json_object"}`` (optionally with a ``schema``) or
                ``{"type": "json_schema", "json_schema": {...}}``, enforced by a grammar.
            max_tokens: The most tokens to generate (None: until the context is full).
            presence_penalty: See `sample`.
            frequency_penalty: See `sample`.
            repeat_penalty: See `sample`.
            tfs_z: Accepted for compatibility.
            mirostat_mode: See `sample`.
            mirostat_tau: See `sample`.
            mirostat_eta: See `sample`.
            model: The ``model`` name reported in the response.
            logits_processor: Python processors applied before each sample.
            grammar: Constrain the answer to a grammar.
            logit_bias: Token id -> bias added to its logit.
            logprobs: Return token log-probabilities.
            top_logprobs: Alternatives per token with ``logprobs``.
            n: Answers to generate; the prompt is evaluated once (see `create_completion`).
            **kwargs: Template variables (``enable_thinking``, ...) and OpenAI request fields
                (``best_of``, ``parallel_tool_calls``, ``user``).

        Returns:
            A ``CreateChatCompletionResponse``, or an iterator of ``CreateChatCompletionStreamResponse`` chunks.

        Raises:
            ValueError: An unknown chat format (``LlamaChatCompletionHandlerNotFoundException``), bad
                messages or tools, or a prompt longer than the context.
        """
        from ._chat.dispatch import create_chat_completion
        from ._chat.request import ChatRequest

        request = ChatRequest.from_kwargs(dict(
            messages=messages, functions=functions, function_call=function_call, tools=tools,
            tool_choice=tool_choice, temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p,
            typical_p=typical_p, stream=stream, stop=stop, seed=seed, response_format=response_format,
            max_tokens=max_tokens, presence_penalty=presence_penalty, frequency_penalty=frequency_penalty,
            repeat_penalty=repeat_penalty, tfs_z=tfs_z, mirostat_mode=mirostat_mode, mirostat_tau=mirostat_tau,
            mirostat_eta=mirostat_eta, model=model, logits_processor=logits_processor, grammar=grammar,
            logit_bias=logit_bias, logprobs=logprobs, top_logprobs=top_logprobs, n=n, **kwargs,
        ))
        return create_chat_completion(self, request)

    def create_chat_completion_openai_v1(self, *args: Any, **kwargs: Any) -> Any:
        """`create_chat_completion`, returning ``openai`` package objects.

        Args:
            *args: `create_chat_completion`'s arguments, in order.
            **kwargs: `create_chat_completion`'s arguments, by name.

        Returns:
            An ``openai.types.chat.ChatCompletion``, or an iterator of ``ChatCompletionChunk``.
        """
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
        """Embeddings of one text or many; many are decoded together, several sequences per batch.

        Args:
            input: A text or a list of texts.
            normalize: Scale each vector to unit length.
            truncate: Cut inputs longer than ``n_batch`` (else raise).
            return_count: Also return how many tokens were used.

        Returns:
            A vector (or, without pooling, a vector per token) per input; a single one for a
            ``str`` input; with ``return_count``, ``(embeddings, token_count)``.

        Raises:
            RuntimeError: The Llama was not created with ``embedding=True``.
            ValueError: An input longer than ``n_batch`` with ``truncate=False``.
        """
        if not self.context_params.embeddings:
            raise RuntimeError("Llama model must be created with embedding=True to call this method")
        if isinstance(input, str):
            inputs, single = [input], True
        elif isinstance(input, list) and all(isinstance(x, str) for x in input):
            inputs, single = input, False
        else:
            raise TypeError("input must be a str or a list of str")
        engine = self._open_engine()
        with engine.busy(exclusive=True):
            results, total = _embed(engine, lambda text: self.tokenize(text.encode("utf-8")), inputs, normalize,
                                    truncate)
        result = results[0] if single else results
        return (result, total) if return_count else result

    def create_embedding(self, input: Union[str, List[str]], model: Optional[str] = None) -> CreateEmbeddingResponse:
        """Embeddings in the OpenAI response shape.

        Args:
            input: A text or a list of texts.
            model: The ``model`` name reported in the response.

        Returns:
            A ``CreateEmbeddingResponse`` with one entry per input, in order.
        """
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
        """Snapshot the evaluated tokens and the native state (see `LlamaState`).

        Returns:
            A picklable `LlamaState`.
        """
        engine = self._open_engine()
        with engine.busy(exclusive=True):
            return self._save_state_locked()

    def _save_state_locked(self) -> LlamaState:
        return _state.save(self._open_engine(), self._seq, self._seed)

    def load_state(self, state: LlamaState) -> None:
        """Restore a snapshot taken by `save_state`; the next sample continues exactly.

        Args:
            state: The snapshot.

        Raises:
            ValueError: It was saved from a Llama with a larger context.
        """
        engine = self._open_engine()
        if self._restoring_from_cache and engine.owner == threading.get_ident():
            _state.load(engine, self._seq, state)  # a prompt-cache hit inside a completion, which holds this Llama
        else:
            with engine.busy(exclusive=True):
                _state.load(engine, self._seq, state)
        self._seed = state.seed

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
        """Download a GGUF from the Hugging Face Hub and load it (needs ``huggingface-hub``).

        Args:
            repo_id: The repository, ``"owner/name"``.
            filename: The file, or a glob matching exactly one file.
            additional_files: More files to fetch (globs), e.g. the other shards of a split model.
            local_dir: Download into this directory instead of the cache.
            local_dir_use_symlinks: Accepted for compatibility.
            cache_dir: The Hugging Face cache directory.
            **kwargs: `Llama` constructor arguments.

        Returns:
            The loaded model.

        Raises:
            ValueError: No file or several files match ``filename``.
            ImportError: ``huggingface-hub`` is not installed.
        """
        from ._hub import download_model

        path = download_model(repo_id, filename, additional_files, local_dir, local_dir_use_symlinks, cache_dir)
        return cls(model_path=path, **kwargs)
