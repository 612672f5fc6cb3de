"""Exceptions raised while finding, loading and binding the native libraries."""

from __future__ import annotations

__all__ = ["LibraryNotFoundError", "LibraryLoadError", "SymbolNotFoundError"]


class LibraryNotFoundError(FileNotFoundError):
    """A llama.cpp shared library is not where the package expects it."""


class LibraryLoadError(RuntimeError):
    """A llama.cpp shared library exists but the dynamic loader refused it."""


class SymbolNotFoundError(RuntimeError):
    """A bound C function is missing from every loaded library."""
