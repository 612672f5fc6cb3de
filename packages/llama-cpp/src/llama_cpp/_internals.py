"""Owning wrappers around llama.cpp handles (model, context, batch, sampler chain).

Each class owns one native object, frees it exactly once (``close()``, the
context-manager exit, or garbage collection), and turns C failure codes into
Python exceptions. The high-level ``llama_cpp.Llama`` is built from these.
They are private: their names follow ``llama-cpp-python``'s ``_internals`` so
code that reached into it keeps working.
"""

from __future__ import annotations

import ctypes
import os
from typing import Dict, List, Optional, Sequence

from . import llama_cpp as C
from ._errors import decode_error
from ._numpy import np

__all__ = ["LlamaModel", "LlamaContext", "LlamaBatch", "LlamaSampler", "normalize_embedding"]


def _check_path(path: str, name: str = "model_path", label: str = "Model path") -> None:
    """A GGUF path argument (``name``) is a path to an existing file; ``label`` starts the messages."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, not {type(path).__name__}")
    if not os.path.exists(path):
        raise ValueError(f"{label} does not exist: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{label} is a directory, not a GGUF file: {path}")


class LlamaModel:
    """A loaded model (``llama_model *``) and its vocabulary."""

    def __init__(self, *, path_model: str, params: C.llama_model_params, verbose: bool = True):
        self.path_model = os.fspath(path_model)
        self.params = params
        self.verbose = verbose
        self.model: Optional[int] = None
        self.vocab: Optional[int] = None
        self._contexts: List[LlamaContext] = []
        self._pieces: Dict[tuple, bytes] = {}
        _check_path(self.path_model)
        model = C.llama_model_load_from_file(self.path_model.encode("utf-8"), params)
        if not model:
            raise ValueError(f"Failed to load model from file: {self.path_model}")
        self.model = model
        self.vocab = C.llama_model_get_vocab(model)

    @staticmethod
    def default_params() -> C.llama_model_params:
        return C.llama_model_default_params()

    def close(self) -> None:
        for ctx in self._contexts:
            ctx.close()
        self._contexts.clear()
        if self.model:
            C.llama_model_free(self.model)
        self.model = None
        self.vocab = None

    def __enter__(self) -> LlamaModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _require(self) -> int:
        if not self.model:
            raise RuntimeError("the model is closed")
        return self.model

    # ---- properties of the model
    def vocab_type(self) -> int:
        return C.llama_vocab_type(self.vocab)

    def n_vocab(self) -> int:
        return C.llama_vocab_n_tokens(self.vocab)

    def n_ctx_train(self) -> int:
        return C.llama_model_n_ctx_train(self._require())

    def n_embd(self) -> int:
        return C.llama_model_n_embd(self._require())

    def rope_freq_scale_train(self) -> float:
        return C.llama_model_rope_freq_scale_train(self._require())

    def desc(self) -> str:
        buf = ctypes.create_string_buffer(1024)
        C.llama_model_desc(self._require(), buf, ctypes.sizeof(buf))
        return buf.value.decode("utf-8", errors="replace")

    def size(self) -> int:
        return C.llama_model_size(self._require())

    def n_params(self) -> int:
        return C.llama_model_n_params(self._require())

    # ---- vocabulary
    def token_get_text(self, token: int) -> str:
        return (C.llama_vocab_get_text(self.vocab, token) or b"").decode("utf-8", errors="replace")

    def token_get_score(self, token: int) -> float:
        return C.llama_vocab_get_score(self.vocab, token)

    def token_get_attr(self, token: int) -> int:
        return C.llama_vocab_get_attr(self.vocab, token)

    def token_bos(self) -> int:
        return C.llama_vocab_bos(self.vocab)

    def token_eos(self) -> int:
        return C.llama_vocab_eos(self.vocab)

    def token_cls(self) -> int:
        return C.llama_vocab_bos(self.vocab)  # llama_vocab_cls is deprecated in favour of BOS

    def token_sep(self) -> int:
        return C.llama_vocab_sep(self.vocab)

    def token_nl(self) -> int:
        return C.llama_vocab_nl(self.vocab)

    def token_prefix(self) -> int:
        return C.llama_vocab_fim_pre(self.vocab)

    def token_middle(self) -> int:
        return C.llama_vocab_fim_mid(self.vocab)

    def token_suffix(self) -> int:
        return C.llama_vocab_fim_suf(self.vocab)

    def token_eot(self) -> int:
        return C.llama_vocab_eot(self.vocab)

    def add_bos_token(self) -> bool:
        return C.llama_vocab_get_add_bos(self.vocab)

    def add_eos_token(self) -> bool:
        return C.llama_vocab_get_add_eos(self.vocab)

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> List[int]:
        """Token ids of ``text``; the buffer is sized from the text, grown once if needed."""
        if not isinstance(text, bytes):
            raise TypeError(f"tokenize() takes bytes, not {type(text).__name__}")
        n_max = len(text) + 2 * int(add_bos) + 1
        buf = (C.llama_token * n_max)()
        n = C.llama_tokenize(self.vocab, text, len(text), buf, n_max, add_bos, special)
        if n < 0:
            n_max = -n
            buf = (C.llama_token * n_max)()
            n = C.llama_tokenize(self.vocab, text, len(text), buf, n_max, add_bos, special)
            if n < 0:
                raise RuntimeError(f'Failed to tokenize: text="{text!r}" n_tokens={n}')
        return buf[:n]

    def token_to_piece(self, token: int, special: bool = False) -> bytes:
        """The bytes of one token (cached: a vocabulary never changes)."""
        key = (token, special)
        piece = self._pieces.get(key)
        if piece is None:
            n_vocab = C.llama_vocab_n_tokens(self.vocab)
            if not 0 <= token < n_vocab:
                hint = " (negative ids in input_ids mark image positions, which have no text)" if token < 0 else ""
                raise ValueError(f"token {token} is not a token id of this model (0..{n_vocab - 1}){hint}")
            buf = ctypes.create_string_buffer(64)
            n = C.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = C.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
            piece = self._pieces[key] = buf.raw[:n]
        return piece

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> bytes:
        """The tokens' pieces joined; a leading BOS drops the space the next piece starts with."""
        if len(tokens) == 0:
            return b""
        text = b"".join([self.token_to_piece(int(t), special) for t in tokens])
        if int(tokens[0]) == self.token_bos() and text.startswith(b" "):
            text = text[1:]
        return text

    def metadata(self) -> Dict[str, str]:
        model = self._require()
        out: Dict[str, str] = {}
        size = 256
        buf = ctypes.create_string_buffer(size)
        for i in range(C.llama_model_meta_count(model)):
            n = C.llama_model_meta_key_by_index(model, i, buf, size)
            key = buf.value.decode("utf-8", errors="replace") if n >= 0 else ""
            n = C.llama_model_meta_val_str_by_index(model, i, buf, size)
            if n >= size:
                size = n + 1
                buf = ctypes.create_string_buffer(size)
                n = C.llama_model_meta_val_str_by_index(model, i, buf, size)
            out[key] = buf.value.decode("utf-8", errors="replace")
        return out


class LlamaContext:
    """An inference context (``llama_context *``) on a ``LlamaModel``."""

    def __init__(self, *, model: LlamaModel, params: C.llama_context_params, verbose: bool = True):
        self.model = model
        self.params = params
        self.verbose = verbose
        self.ctx: Optional[int] = None
        self.memory: Optional[int] = None
        ctx = C.llama_init_from_model(model._require(), params)
        if not ctx:
            raise ValueError("Failed to create llama_context")
        self.ctx = ctx
        self.memory = C.llama_get_memory(ctx)
        self._threadpools: List[int] = []
        self._attach_threadpools(params.n_threads, params.n_threads_batch)
        model._contexts.append(self)

    def _attach_threadpools(self, n_threads: int, n_threads_batch: int) -> None:
        """Give the context persistent CPU thread pools.

        Without them ggml starts and joins fresh threads for every graph it
        computes, i.e. for every generated token: a large cost next to a small
        model's decode step (llama.cpp's own tools attach pools the same way).
        """
        from llama_cpp_core import SymbolNotFoundError
        from llama_cpp_core import bindings as G

        old = self._threadpools
        try:
            pools = {}
            for n in {n_threads, n_threads_batch}:
                tpp = G.ggml_threadpool_params_default(n)
                pool = G.ggml_threadpool_new(ctypes.byref(tpp))
                if not pool:
                    raise RuntimeError(f"ggml_threadpool_new({n}) failed")
                pools[n] = pool
        except (SymbolNotFoundError, RuntimeError):  # no CPU backend symbols: ggml's per-call threads
            return
        C.llama_attach_threadpool(self.ctx, pools[n_threads], pools[n_threads_batch])
        self._threadpools = list(pools.values())
        for pool in old:
            G.ggml_threadpool_free(pool)

    def _free_threadpools(self) -> None:
        if self._threadpools:
            from llama_cpp_core import bindings as G

            for pool in self._threadpools:
                G.ggml_threadpool_free(pool)
            self._threadpools = []

    @staticmethod
    def default_params() -> C.llama_context_params:
        return C.llama_context_default_params()

    def close(self) -> None:
        if self.ctx:
            if getattr(self, "_threadpools", None):
                C.llama_detach_threadpool(self.ctx)
            C.llama_free(self.ctx)
        self.ctx = None
        self.memory = None
        if getattr(self, "_threadpools", None):
            self._free_threadpools()

    def __enter__(self) -> LlamaContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def n_ctx(self) -> int:
        return C.llama_n_ctx(self.ctx)

    def pooling_type(self) -> int:
        return C.llama_pooling_type(self.ctx)

    def kv_cache_clear(self) -> None:
        if self.memory:
            C.llama_memory_clear(self.memory, True)

    def kv_cache_seq_rm(self, seq_id: int, p0: int, p1: int) -> bool:
        if not self.memory:
            return False
        return C.llama_memory_seq_rm(self.memory, max(seq_id, 0), p0, p1)

    def kv_cache_seq_cp(self, seq_id_src: int, seq_id_dst: int, p0: int, p1: int) -> None:
        if self.memory:
            C.llama_memory_seq_cp(self.memory, seq_id_src, seq_id_dst, p0, p1)

    def kv_cache_seq_keep(self, seq_id: int) -> None:
        if self.memory:
            C.llama_memory_seq_keep(self.memory, seq_id)

    def kv_cache_seq_shift(self, seq_id: int, p0: int, p1: int, shift: int) -> None:
        if self.memory:
            C.llama_memory_seq_add(self.memory, seq_id, p0, p1, shift)

    def get_state_size(self) -> int:
        return C.llama_state_get_size(self.ctx)

    def decode(self, batch: LlamaBatch) -> None:
        rc = C.llama_decode(self.ctx, batch.batch)
        if rc != 0:
            raise decode_error(rc, batch.n_tokens())

    def encode(self, batch: LlamaBatch) -> None:
        rc = C.llama_encode(self.ctx, batch.batch)
        if rc != 0:
            raise RuntimeError(f"llama_encode returned {rc}")

    def set_n_threads(self, n_threads: int, n_threads_batch: int) -> None:
        C.llama_set_n_threads(self.ctx, n_threads, n_threads_batch)
        if self._threadpools:
            self._attach_threadpools(n_threads, n_threads_batch)

    def get_logits(self):  # type: ignore[no-untyped-def]
        return C.llama_get_logits(self.ctx)

    def get_logits_ith(self, i: int):  # type: ignore[no-untyped-def]
        return C.llama_get_logits_ith(self.ctx, i)

    def get_embeddings(self):  # type: ignore[no-untyped-def]
        return C.llama_get_embeddings(self.ctx)

    def get_embeddings_ith(self, i: int):  # type: ignore[no-untyped-def]
        return C.llama_get_embeddings_ith(self.ctx, i)

    def get_embeddings_seq(self, seq_id: int):  # type: ignore[no-untyped-def]
        return C.llama_get_embeddings_seq(self.ctx, seq_id)

    def reset_timings(self) -> None:
        C.llama_perf_context_reset(self.ctx)

    def print_timings(self) -> None:
        C.llama_perf_context_print(self.ctx)


class LlamaBatch:
    """A ``llama_batch`` filled from NumPy arrays (no per-token Python loop)."""

    def __init__(self, *, n_tokens: int, embd: int, n_seq_max: int, verbose: bool = True):
        self._n_tokens = n_tokens
        self.embd = embd
        self.n_seq_max = n_seq_max
        self.verbose = verbose
        self.batch = C.llama_batch_init(n_tokens, embd, n_seq_max)
        self._closed = False
        self._views: Optional[tuple] = None  # NumPy views over the batch's buffers, made on first use

    def _view(self) -> tuple:
        if self._views is None:
            n = self._n_tokens
            self._views = (
                np.ctypeslib.as_array(self.batch.token, shape=(n,)) if not self.embd else None,
                np.ctypeslib.as_array(self.batch.pos, shape=(n,)),
                np.ctypeslib.as_array(self.batch.n_seq_id, shape=(n,)),
                np.ctypeslib.as_array(self.batch.logits, shape=(n,)),
            )
        return self._views

    @property
    def _token(self) -> Optional[np.ndarray]:
        return self._view()[0]  # type: ignore[no-any-return]

    @property
    def _pos(self) -> np.ndarray:
        return self._view()[1]  # type: ignore[no-any-return]

    @property
    def _n_seq_id(self) -> np.ndarray:
        return self._view()[2]  # type: ignore[no-any-return]

    @property
    def _logits(self) -> np.ndarray:
        return self._view()[3]  # type: ignore[no-any-return]

    def close(self) -> None:
        if not self._closed:
            self._closed = True  # the NumPy views above must not be used after this
            C.llama_batch_free(self.batch)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def n_tokens(self) -> int:
        return self.batch.n_tokens

    def reset(self) -> None:
        self.batch.n_tokens = 0

    def set_batch(self, batch: Sequence[int], n_past: int, logits_all: bool, seq_id: int = 0) -> None:
        if self._closed or self._token is None:
            raise RuntimeError("this batch is closed (or holds embeddings, not tokens)")
        n = len(batch)
        if n > self._n_tokens:
            raise ValueError(f"batch of {n} tokens exceeds the batch capacity {self._n_tokens}")
        self.batch.n_tokens = n
        self._token[:n] = batch
        self._pos[:n] = np.arange(n_past, n_past + n, dtype=np.int32)
        self._n_seq_id[:n] = 1
        ids = self.batch.seq_id
        for i in range(n):
            ids[i][0] = seq_id
        self._logits[:n] = 1 if logits_all else 0
        self._logits[n - 1] = 1

    def add_sequence(self, batch: Sequence[int], seq_id: int, logits_all: bool) -> None:
        if self._closed or self._token is None:
            raise RuntimeError("this batch is closed (or holds embeddings, not tokens)")
        n = len(batch)
        n0 = self.batch.n_tokens
        if n0 + n > self._n_tokens:
            raise ValueError(f"batch of {n0 + n} tokens exceeds the batch capacity {self._n_tokens}")
        self.batch.n_tokens = n0 + n
        self._token[n0:n0 + n] = batch
        self._pos[n0:n0 + n] = np.arange(n, dtype=np.int32)
        self._n_seq_id[n0:n0 + n] = 1
        seq = self.batch.seq_id
        for i in range(n0, n0 + n):
            seq[i][0] = seq_id
        self._logits[n0:n0 + n] = 1 if logits_all else 0
        self._logits[n0 + n - 1] = 1


class LlamaSampler:
    """A native sampler chain (``llama_sampler_chain_*``)."""

    def __init__(self) -> None:
        params = C.llama_sampler_chain_default_params()
        self.sampler = C.llama_sampler_chain_init(params)

    def close(self) -> None:
        if self.sampler:
            C.llama_sampler_free(self.sampler)
        self.sampler = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _add(self, s) -> None:  # type: ignore[no-untyped-def]
        if not s:
            raise ValueError("llama.cpp could not create the sampler (invalid parameters)")
        C.llama_sampler_chain_add(self.sampler, s)

    def add_greedy(self) -> None:
        self._add(C.llama_sampler_init_greedy())

    def add_dist(self, seed: int) -> None:
        self._add(C.llama_sampler_init_dist(seed))

    def add_top_k(self, k: int) -> None:
        self._add(C.llama_sampler_init_top_k(k))

    def add_top_p(self, p: float, min_keep: int = 1) -> None:
        self._add(C.llama_sampler_init_top_p(p, min_keep))

    def add_min_p(self, p: float, min_keep: int = 1) -> None:
        self._add(C.llama_sampler_init_min_p(p, min_keep))

    def add_typical(self, p: float, min_keep: int = 1) -> None:
        self._add(C.llama_sampler_init_typical(p, min_keep))

    def add_temp(self, temp: float) -> None:
        self._add(C.llama_sampler_init_temp(temp))

    def add_temp_ext(self, t: float, delta: float, exponent: float) -> None:
        self._add(C.llama_sampler_init_temp_ext(t, delta, exponent))

    def add_penalties(self, n_vocab: int, penalty_last_n: int, penalty_repeat: float,
                      penalty_freq: float, penalty_present: float) -> None:
        self._add(C.llama_sampler_init_penalties(n_vocab, penalty_last_n, penalty_repeat, penalty_freq, penalty_present))

    def add_mirostat(self, n_vocab: int, seed: int, tau: float, eta: float, m: int) -> None:
        self._add(C.llama_sampler_init_mirostat(n_vocab, seed, tau, eta, m))

    def add_mirostat_v2(self, seed: int, tau: float, eta: float) -> None:
        self._add(C.llama_sampler_init_mirostat_v2(seed, tau, eta))

    def get_seed(self) -> int:
        return C.llama_sampler_get_seed(self.sampler)

    def sample(self, ctx: LlamaContext, idx: int = -1) -> int:
        return C.llama_sampler_sample(self.sampler, ctx.ctx, idx)

    def accept(self, token: int) -> None:
        C.llama_sampler_accept(self.sampler, token)

    def reset(self) -> None:
        C.llama_sampler_reset(self.sampler)


def normalize_embedding(embedding: Sequence[float] | np.ndarray) -> List[float]:
    arr = np.asarray(embedding, dtype=np.float64)
    norm = float(np.linalg.norm(arr))
    return (arr / norm).tolist() if norm > 0 else arr.tolist()
