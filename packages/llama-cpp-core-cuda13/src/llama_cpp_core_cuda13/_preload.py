"""Open the CUDA 13 runtime libraries from NVIDIA's wheels before libggml-cuda.

NVIDIA's ``nvidia-cuda-runtime`` and ``nvidia-cublas`` wheels put their
libraries under ``site-packages/nvidia/``, where the dynamic loader does not
look. Opening them first (by path, in dependency order) lets the loader
resolve libggml-cuda's ``libcudart.so.13``, ``libcublas.so.13`` and
``libcublasLt.so.13`` to the already-loaded copies.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

__all__ = ["preload", "runtime_libraries"]

logger = logging.getLogger("llama_cpp_core")

_MAJOR = 13
# dependency order: cublas needs cublasLt
_LIBS = ("cudart", "cublasLt", "cublas")
_handles: list[ctypes.CDLL] = []


def _file_name(lib: str) -> str:
    if sys.platform == "win32":
        return f"{lib}64_{_MAJOR}.dll"
    return f"lib{lib}.so.{_MAJOR}"


def runtime_libraries() -> list[Path]:
    """The CUDA runtime libraries found in NVIDIA's wheels on sys.path, in load order."""
    sub = "bin" if sys.platform == "win32" else "lib"
    found: dict[str, Path] = {}
    for entry in sys.path:
        root = Path(entry or ".") / "nvidia"
        if not root.is_dir():
            continue
        # CUDA 13 wheels: nvidia/cu13/lib; CUDA 12 wheels: nvidia/cuda_runtime/lib, nvidia/cublas/lib
        for lib in _LIBS:
            if lib in found:
                continue
            for candidate in sorted(root.glob(f"*/{sub}/{_file_name(lib)}")):
                found[lib] = candidate
                break
    return [found[lib] for lib in _LIBS if lib in found]


def preload() -> list[Path]:
    """Open the runtime libraries once (RTLD_GLOBAL); returns those opened. Missing ones are left
    to the system's loader path (a local CUDA installation)."""
    if _handles:
        return [Path(h._name) for h in _handles]
    opened = []
    mode = getattr(os, "RTLD_GLOBAL", 0) | getattr(os, "RTLD_NOW", 0)
    for path in runtime_libraries():
        if sys.platform == "win32":
            os.add_dll_directory(str(path.parent))
        _handles.append(ctypes.CDLL(str(path), mode=mode))
        opened.append(path)
    logger.debug("CUDA %d runtime preloaded: %s", _MAJOR, [p.name for p in opened] or "none (system CUDA)")
    return opened
