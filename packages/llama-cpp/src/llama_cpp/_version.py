"""The package version and the check that the native core matches it."""

from __future__ import annotations

__version__ = "0.4.0"


def check_core_version() -> None:
    """Fail early, with the fix, when llama-cpp-core is not the version this package was released with."""
    import llama_cpp_core

    core = getattr(llama_cpp_core, "__version__", "unknown")
    if core != __version__:
        raise ImportError(
            f"llama-cpp {__version__} needs llama-cpp-core {__version__}, but {core} is installed; "
            f"reinstall it with: pip install 'llama-cpp-core=={__version__}'"
        )
