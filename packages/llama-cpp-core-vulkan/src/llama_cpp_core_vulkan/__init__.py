"""Vulkan backend for llama-cpp-core (``libggml-vulkan``), as a plugin package.

Nothing here needs importing: ``llama_cpp_core`` finds this package through
its ``llama_cpp_core.backends`` entry point and loads ``lib/libggml-vulkan``
by path after its own libggml-base. It needs a Vulkan loader
(``libvulkan.so.1``, ``vulkan-1.dll``) and a driver on the machine; without
them the backend is skipped with the reason in ``llama_cpp.backends()``.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.4.0"
__all__ = ["__version__", "BACKEND", "lib_dir"]

BACKEND = "vulkan"


def lib_dir() -> Path:
    """The directory holding this plugin's backend library."""
    return Path(__file__).resolve().parent / "lib"
