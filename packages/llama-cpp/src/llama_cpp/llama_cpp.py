"""The low-level llama.cpp C API, under the names ``llama-cpp-python`` uses.

Everything declared in ``llama.h`` is here: ``llama_*`` functions (raw ctypes
functions: positional arguments, ``bytes`` for strings, ctypes arrays for
buffers), records (``llama_batch``, ``llama_context_params``, ...), callback
types, enumerators as module integers (``LLAMA_VOCAB_TYPE_BPE``) and as
IntEnum classes (``LlamaVocabType``), plus the ggml types and constants those
declarations use. The declarations are generated from the pinned headers at
build time (see ``llama_cpp_core.bindings``); this module only selects them and
adds the handful of aliases and helpers the reference module also defines.

ggml's and gguf's own functions stay in ``llama_cpp_core.bindings``.
"""

from __future__ import annotations

import ctypes
import functools
import pathlib
import sys
from typing import Any, Callable, List, NewType, TypeVar

from llama_cpp_core import _bindings as _b
from llama_cpp_core._loader import libraries as _libraries
from llama_cpp_core._loader import open_library as _open_library

_TABLES = {"FUNCTIONS", "RECORDS", "HEADERS", "ENUMS"}
_exported = [
    n for n in _b.__all__
    if n not in _TABLES and (n not in _b.FUNCTIONS or _b.FUNCTIONS[n][5] == "llama.h")
]
globals().update({n: getattr(_b, n) for n in _exported})

# ---------------------------------------------------------------- aliases
byref = ctypes.byref
"""``ctypes.byref``, for passing a ctypes object by pointer."""
llama_token_p = ctypes.POINTER(_b.llama_token)
"""``llama_token *``: a pointer to token ids (``ctypes.POINTER(llama_token)``)."""
llama_memory_t_ctypes = ctypes.c_void_p
"""The ctypes type of a ``llama_memory_t`` handle (``llama_get_memory``)."""
llama_kv_cache_p = NewType("llama_kv_cache_p", int)
"""A KV cache handle, as an ``int`` (the name of the older API)."""
llama_kv_cache_p_ctypes = ctypes.c_void_p
"""The ctypes type of a KV cache handle (the name of the older API)."""
llama_sampler_p_ctypes = ctypes.POINTER(_b.llama_sampler)
"""``struct llama_sampler *`` as a ctypes pointer type."""
llama_adapter_lora_p = ctypes.c_void_p
"""The ctypes type of a ``struct llama_adapter_lora *`` handle."""
gguf_context_p = NewType("gguf_context_p", int)
"""A ``struct gguf_context *`` handle, as an ``int``."""
gguf_context_p_ctypes = ctypes.c_void_p
"""The ctypes type of a ``struct gguf_context *`` handle."""

# The loaded libllama, as a ctypes library object (some clients reach for it).
_lib = _libraries().llama

LLAMA_MAX_DEVICES: int = _b.llama_max_devices()
"""How many devices a model can be split over (``llama_max_devices()`` of the loaded library)."""


# -------------------------------------------------- loading helpers (compat)
def load_shared_library(lib_base_name: str, base_path: pathlib.Path) -> ctypes.CDLL:
    """Open a shared library by its base name, the way the platform spells it.

    Args:
        lib_base_name: The name without prefix or suffix (``"llama"``).
        base_path: The directory to look in.

    Returns:
        The opened library (``lib<name>.so``, ``<name>.dll`` or ``lib<name>.dylib``).

    Raises:
        FileNotFoundError: No such file in ``base_path``.
    """
    if sys.platform == "win32":
        candidates = [f"{lib_base_name}.dll", f"lib{lib_base_name}.dll"]
    elif sys.platform == "darwin":
        candidates = [f"lib{lib_base_name}.so", f"lib{lib_base_name}.dylib"]
    else:
        candidates = [f"lib{lib_base_name}.so"]
    for name in candidates:
        path = pathlib.Path(base_path) / name
        if path.exists():
            return _open_library(path)
    raise FileNotFoundError(f"Shared library with base name '{lib_base_name}' not found")


_F = TypeVar("_F", bound=Callable[..., Any])


def ctypes_function_for_shared_library(lib: ctypes.CDLL) -> Callable[..., Callable[[_F], _F]]:
    """Make a decorator that binds Python stubs to C functions of ``lib``.

    Kept for code that declares extra functions the way ``llama-cpp-python`` does.

    Args:
        lib: The library holding the functions.

    Returns:
        ``ctypes_function(name, argtypes, restype, enabled=True)``, a decorator
        factory: the decorated stub is replaced by the C function ``name`` with
        those types (and the stub's name and docstring), or kept as is when
        ``enabled`` is false.
    """

    def ctypes_function(name: str, argtypes: List[Any], restype: Any, enabled: bool = True) -> Callable[[_F], _F]:
        def decorator(stub: _F) -> _F:
            if not enabled:
                return stub
            fn = lib[name]
            fn.argtypes = argtypes
            fn.restype = restype
            functools.wraps(stub)(fn)
            return fn  # type: ignore[return-value]

        return decorator

    return ctypes_function


ctypes_function = ctypes_function_for_shared_library(_lib)


# ------------------------------------------------------ Python-only shims
def llama_set_adapter_lora(ctx: int, adapter: int, scale: float) -> int:
    """Attach one LoRA adapter to a context (a shim over ``llama_set_adapters_lora``).

    Args:
        ctx: The ``llama_context`` handle.
        adapter: The ``llama_adapter_lora`` handle.
        scale: The adapter's weight.

    Returns:
        0 on success, as the C function returns.
    """
    adapters = (ctypes.c_void_p * 1)(adapter)
    scales = (ctypes.c_float * 1)(scale)
    return _b.llama_set_adapters_lora(ctx, adapters, 1, scales)


def llama_apply_adapter_cvec(ctx: int, data: Any, len: int, n_embd: int, il_start: int, il_end: int) -> int:
    """Apply a control vector to a context, or clear it (a shim over ``llama_set_adapter_cvec``).

    Args:
        ctx: The ``llama_context`` handle.
        data: ``n_embd`` floats per layer, as a ctypes float array, or ``None`` to
            clear the control vector.
        len: The number of floats in ``data``.
        n_embd: The model's embedding size.
        il_start: The first layer to apply it to.
        il_end: The last layer to apply it to.

    Returns:
        0 on success, as the C function returns.
    """
    return _b.llama_set_adapter_cvec(ctx, data, len, n_embd, il_start, il_end)


def __getattr__(name: str) -> Any:
    # Every generated name is set above at import; this only tells type checkers that
    # names they cannot see statically (the generated ones) exist, typed Any.
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = _exported + [
    "byref", "llama_token_p", "llama_memory_t_ctypes", "llama_kv_cache_p", "llama_kv_cache_p_ctypes",
    "llama_sampler_p_ctypes", "llama_adapter_lora_p", "gguf_context_p", "gguf_context_p_ctypes",
    "LLAMA_MAX_DEVICES", "load_shared_library", "ctypes_function_for_shared_library", "ctypes_function",
    "llama_set_adapter_lora", "llama_apply_adapter_cvec",
]
