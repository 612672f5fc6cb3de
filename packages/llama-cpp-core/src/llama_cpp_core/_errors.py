"""Exceptions raised while finding, loading and binding the native libraries."""

from __future__ import annotations

__all__ = ["LibraryNotFoundError", "LibraryLoadError", "SymbolNotFoundError"]


class LibraryNotFoundError(FileNotFoundError):
    """A llama.cpp shared library is not where the package expects it.

    A ``FileNotFoundError``. The message names the library and the directory
    searched (the package's ``lib/``, or ``$LLAMA_CPP_LIB_PATH`` when set);
    reinstalling ``llama-cpp-core`` restores the files.
    """


class LibraryLoadError(RuntimeError):
    """A llama.cpp shared library exists but could not be used.

    A ``RuntimeError``: the dynamic loader refused the file (a missing dependency,
    the wrong architecture), or a library whose functions were called did not open.
    The message carries the loader's own reason.
    """


class SymbolNotFoundError(RuntimeError):
    """A C function of the bindings is exported by none of the loaded libraries.

    A ``RuntimeError``, raised when the function is called (never at import). It
    means the libraries and the generated bindings come from different builds
    (``$LLAMA_CPP_LIB_PATH`` pointing at another llama.cpp), or the backend that
    provides the function is not loaded.
    """
