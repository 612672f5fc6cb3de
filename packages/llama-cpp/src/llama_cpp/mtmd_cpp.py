"""llama.cpp's multimodal C API (``mtmd.h``, ``mtmd-helper.h``), under the module name ``llama-cpp-python`` uses.

The declarations are generated from the pinned headers (``llama_cpp_core.bindings``);
this module selects the ``mtmd_*`` functions, records and constants. The library,
libmtmd, is opened on the first call of one of them, not when this module is imported.
"""

from __future__ import annotations

import ctypes
from typing import Any, List

from llama_cpp_core import _bindings as _b

_MTMD_HEADERS = ("mtmd.h", "mtmd-helper.h")

# The generated module's tables: FUNCTIONS maps a name to (..., header, C declaration); records and enums of
# the mtmd headers are the names starting with "mtmd_" / "MTMD_" / "Mtmd".
_functions = [n for n, entry in _b.FUNCTIONS.items() if entry[5] in _MTMD_HEADERS]
_others = [n for n in _b.__all__ if n not in _b.FUNCTIONS and n.startswith(("mtmd_", "MTMD_", "Mtmd"))]

__all__: List[str] = sorted(set(_functions) | set(_others)) + ["mtmd_context_p", "mtmd_bitmap_p",
                                                                "mtmd_input_chunks_p", "mtmd_input_chunk_p"]

globals().update({n: getattr(_b, n) for n in _others})

# opaque handles, as plain pointers (the reference module's names)
mtmd_context_p = ctypes.c_void_p
mtmd_bitmap_p = ctypes.c_void_p
mtmd_input_chunks_p = ctypes.c_void_p
mtmd_input_chunk_p = ctypes.c_void_p


def __getattr__(name: str) -> Any:
    # functions are bound on first use, which is when libmtmd is opened
    if name in _functions:
        fn = getattr(_b, name)
        globals()[name] = fn
        return fn
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_functions))
