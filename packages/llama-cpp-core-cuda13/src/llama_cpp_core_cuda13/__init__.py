"""CUDA 13 backend for llama-cpp-core (``libggml-cuda``), as a plugin package.

``llama_cpp_core`` finds this package through its ``llama_cpp_core.backends``
entry point. Before it opens ``lib/libggml-cuda`` it calls ``preload``,
which opens the CUDA runtime and cuBLAS from NVIDIA's PyPI wheels
(``pip install llama-cpp[cuda13]``) when they are installed; otherwise the
system's CUDA 13 libraries are used (``llama-cpp[cuda13-local]``). The NVIDIA
driver (``libcuda.so.1``) always comes from the system. Without a driver or
a GPU the backend is skipped with the reason in ``llama_cpp.backends()``.
"""

from __future__ import annotations

from pathlib import Path

from ._preload import preload

__version__ = "0.4.0"
__all__ = ["__version__", "BACKEND", "CUDA_MAJOR", "lib_dir", "preload"]

BACKEND = "cuda"
CUDA_MAJOR = 13


def lib_dir() -> Path:
    """The directory holding this plugin's backend library."""
    return Path(__file__).resolve().parent / "lib"
