"""Python bindings for llama.cpp, API-compatible with ``llama-cpp-python``.

``import llama_cpp`` gives the low-level C API (``llama_cpp.llama_cpp``) and
the response types (``llama_cpp.llama_types``) under their usual names.
"""

from __future__ import annotations

from ._version import __version__, check_core_version

check_core_version()

from . import llama_cpp, llama_types  # noqa: E402
from ._logger import set_verbose  # noqa: E402
from .llama_cpp import *  # noqa: E402,F403
from .llama_types import *  # noqa: E402,F403

__all__ = ["__version__", "llama_cpp", "llama_types", "set_verbose", *llama_cpp.__all__, *llama_types.__all__]
