"""Python bindings for llama.cpp, API-compatible with ``llama-cpp-python``.

``from llama_cpp import Llama`` for the high-level API; the low-level C API
(``llama_cpp.llama_cpp``) and the response types (``llama_cpp.llama_types``)
are re-exported here under their usual names too.
"""

from __future__ import annotations

from ._version import __version__, check_core_version

check_core_version()

from . import _internals as internals  # noqa: E402
from . import (  # noqa: E402
    llama,
    llama_cache,
    llama_chat_format,
    llama_cpp,
    llama_grammar,
    llama_speculative,
    llama_tokenizer,
    llama_types,
)
from .llama import *  # noqa: E402,F403
from .llama_cpp import *  # noqa: E402,F403
from .llama_types import *  # noqa: E402,F403

__all__ = [
    "__version__",
    "internals",
    "llama",
    "llama_cache",
    "llama_chat_format",
    "llama_cpp",
    "llama_grammar",
    "llama_speculative",
    "llama_tokenizer",
    "llama_types",
    *llama_cpp.__all__,
    *llama.__all__,
    *llama_types.__all__,
]
