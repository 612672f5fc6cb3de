"""``Llama``'s constructor arguments as llama.cpp's parameter structs.

`model_params` fills ``llama_model_params`` (devices, offload, loading),
`context_params` fills ``llama_context_params`` (sizes, threads, RoPE,
attention, sequences). Arrays the structs point to are returned alongside
them, so the caller keeps them alive as long as the struct is used.
"""

from __future__ import annotations

import ctypes
import multiprocessing
from typing import Any, Dict, List, Optional, Tuple, Union

from . import llama_cpp as C
from ._errors import LlamaArgumentError

__all__ = ["model_params", "context_params", "kv_override_array", "check_n_seq_max"]

KvValue = Union[bool, int, float, str]


def kv_override_array(kv_overrides: Dict[str, KvValue]) -> Any:
    """A NUL-terminated ``llama_model_kv_override`` array for ``kv_overrides``."""
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


def model_params(
    *,
    n_gpu_layers: int,
    split_mode: int,
    main_gpu: int,
    tensor_split: Optional[List[float]],
    vocab_only: bool,
    use_mmap: bool,
    use_mlock: bool,
    kv_overrides: Optional[Dict[str, KvValue]],
    lora_path: Optional[str],
) -> Tuple[C.llama_model_params, List[Any]]:
    """``llama_model_params`` and the arrays it points to."""
    mp = C.llama_model_default_params()
    keep: List[Any] = []
    mp.n_gpu_layers = 0x7FFFFFFF if n_gpu_layers == -1 else n_gpu_layers
    mp.split_mode = split_mode
    mp.main_gpu = main_gpu
    if tensor_split is not None:
        if len(tensor_split) > C.LLAMA_MAX_DEVICES:
            raise ValueError(
                "Attempt to split tensors that exceed maximum supported devices. "
                f"Current LLAMA_MAX_DEVICES={C.LLAMA_MAX_DEVICES}"
            )
        split = (ctypes.c_float * C.LLAMA_MAX_DEVICES)(*tensor_split)
        keep.append(split)
        mp.tensor_split = split
    mp.vocab_only = vocab_only
    if lora_path:
        use_mmap = False  # the adapter is applied to weights in memory
    if use_mmap and use_mlock:
        mp.load_mode = C.LLAMA_LOAD_MODE_MMAP_MLOCK
    elif use_mlock:
        mp.load_mode = C.LLAMA_LOAD_MODE_MLOCK
    elif use_mmap:
        mp.load_mode = C.LLAMA_LOAD_MODE_MMAP
    else:
        mp.load_mode = C.LLAMA_LOAD_MODE_NONE
    if kv_overrides:
        arr = kv_override_array(kv_overrides)
        keep.append(arr)
        mp.kv_overrides = arr
    return mp, keep


def check_n_seq_max(n_seq_max: Any) -> int:
    """``n_seq_max`` checked against what llama.cpp supports."""
    limit = C.llama_max_parallel_sequences()
    if isinstance(n_seq_max, bool) or not isinstance(n_seq_max, int) or not 1 <= n_seq_max <= limit:
        raise LlamaArgumentError(f"n_seq_max must be an int from 1 to {limit}, not {n_seq_max!r}")
    return n_seq_max


def context_params(
    *,
    n_ctx: int,
    n_batch: int,
    n_ubatch: int,
    n_threads: Optional[int],
    n_threads_batch: Optional[int],
    rope_scaling_type: Optional[int],
    pooling_type: int,
    attention_type: int,
    rope_freq_base: float,
    rope_freq_scale: float,
    yarn_ext_factor: float,
    yarn_attn_factor: float,
    yarn_beta_fast: float,
    yarn_beta_slow: float,
    yarn_orig_ctx: int,
    embedding: bool,
    offload_kqv: bool,
    flash_attn: bool,
    op_offload: Optional[bool],
    swa_full: Optional[bool],
    type_k: Optional[int],
    type_v: Optional[int],
    no_perf: bool,
    n_seq_max: int,
) -> C.llama_context_params:
    """``llama_context_params``; ``n_ctx=0`` is resolved later (it needs the model's training context)."""
    cpu = multiprocessing.cpu_count()
    n_batch = min(n_ctx, n_batch) if n_ctx > 0 else n_batch
    cp = C.llama_context_default_params()
    cp.n_ctx = n_ctx
    cp.n_batch = n_batch
    cp.n_ubatch = min(n_batch, n_ubatch)
    cp.n_threads = n_threads or max(cpu // 2, 1)
    cp.n_threads_batch = n_threads_batch or max(cpu, 1)
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
    cp.n_seq_max = check_n_seq_max(n_seq_max)
    if embedding:
        cp.embeddings = True
        # pooled embeddings pack many inputs per decode, one sequence each
        cp.n_seq_max = max(n_seq_max, min(n_batch, C.llama_max_parallel_sequences()))
    if cp.n_seq_max > 1:
        cp.kv_unified = True  # the sequences share the n_ctx cells instead of n_ctx / n_seq_max each
    return cp


def resolve_n_ctx(cp: C.llama_context_params, n_ctx_train: int, n_batch: int, n_ubatch: int) -> None:
    """``n_ctx=0`` means the model's training context: fill it (and the batch sizes bounded by it) in."""
    if cp.n_ctx == 0:
        cp.n_ctx = n_ctx_train
        cp.n_batch = min(n_ctx_train, n_batch)
        cp.n_ubatch = min(cp.n_batch, n_ubatch)
