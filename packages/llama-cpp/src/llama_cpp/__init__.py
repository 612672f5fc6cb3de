"""Python bindings for llama.cpp, API-compatible with ``llama-cpp-python``.

``from llama_cpp import Llama`` for the high-level API; the low-level C API
(``llama_cpp.llama_cpp``) and the response types (``llama_cpp.llama_types``)
are re-exported here under their usual names too.
"""

from __future__ import annotations

from ._version import __version__, check_core_version

check_core_version()

from typing import Any  # noqa: E402

import llama_cpp_types as _types  # noqa: E402

from . import _internals as internals  # noqa: E402
from . import (  # noqa: E402
    llama,
    llama_cache,
    llama_cpp,
    llama_speculative,
    llama_tokenizer,
    llama_types,
)
from ._backends import backends  # noqa: E402
from .llama import *  # noqa: E402,F403
from .llama_cpp import *  # noqa: E402,F403
from .llama_types import *  # noqa: E402,F403

_LAZY_MODULES = {"llama_chat_format", "llama_grammar", "mtmd_cpp"}  # loaded on first use: jinja2, the schema converter, libmtmd


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "LlamaGrammar":
        return importlib.import_module(f"{__name__}.llama_grammar").LlamaGrammar
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "__version__",
    "backends",
    "internals",
    "llama",
    "llama_cache",
    "llama_chat_format",
    "llama_cpp",
    "llama_grammar",
    "llama_speculative",
    "llama_tokenizer",
    "llama_types",
    "mtmd_cpp",
    "LlamaGrammar",
]
__all__ += llama_cpp.__all__
__all__ += llama.__all__
__all__ += _types.__all__  # what llama_types re-exports
