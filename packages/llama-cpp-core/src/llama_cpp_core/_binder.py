"""Turn an entry of the generated ``FUNCTIONS`` table into a callable.

The result is the raw ctypes function (argtypes/restype set, positional
arguments, no Python wrapper) so calls cost what ctypes costs. Deprecated C
functions get a thin wrapper that emits ``DeprecationWarning`` first. A
function that no loaded library exports becomes a stub that raises
``SymbolNotFoundError`` when called, so importing never fails over it.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

from ._errors import LibraryLoadError, SymbolNotFoundError
from ._loader import libraries

__all__ = ["bind"]


def _missing(name: str, c_decl: str, header: str, unavailable: str | None = None) -> Callable[..., Any]:
    def missing(*_args: Any, **_kwargs: Any) -> Any:
        if unavailable is not None:  # the library that holds this header's functions did not open
            raise LibraryLoadError(f"{name} (declared in {header}) cannot be called: {unavailable}")
        libs = libraries()
        names = ", ".join(getattr(lib, "_name", "?") for lib in libs.sources_for(header))
        raise SymbolNotFoundError(
            f"{name} (declared in {header}) is not exported by any loaded llama.cpp library ({names}). "
            "The libraries and the generated bindings come from different builds, or the backend that "
            "provides it is not loaded: reinstall llama-cpp-core, or check llama_cpp_core.backends()"
        )

    missing.__name__ = missing.__qualname__ = name
    missing.__doc__ = f"``{c_decl}`` (not available in the loaded libraries)"
    return missing


def bind(name: str, entry: tuple) -> Callable[..., Any]:
    restype, argtypes, argnames, variadic, deprecated, header, c_decl = entry
    fn = None
    try:
        sources = libraries().sources_for(header)
    except LibraryLoadError as e:
        return _missing(name, c_decl, header, str(e))
    for lib in sources:
        try:
            fn = lib[name]
            break
        except AttributeError:
            continue
    if fn is None:
        return _missing(name, c_decl, header)
    fn.argtypes = list(argtypes)
    fn.restype = restype
    if not deprecated:
        return fn

    raw = fn

    @functools.wraps(raw, assigned=("__name__",), updated=())
    def deprecated_fn(*args: Any) -> Any:
        warnings.warn(f"{name} is deprecated; {deprecated}", DeprecationWarning, stacklevel=2)
        return raw(*args)

    deprecated_fn.__doc__ = f"``{c_decl}`` (deprecated: {deprecated})"
    deprecated_fn.__wrapped__ = raw  # type: ignore[attr-defined]
    return deprecated_fn
