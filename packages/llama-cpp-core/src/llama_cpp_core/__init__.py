"""llama.cpp shared libraries, their generated ctypes bindings and the loader.

``llama_cpp_core`` is the native half of the ``llama-cpp`` packages: it ships
libllama, libggml and the ggml backends built from a pinned llama.cpp commit,
and ``llama_cpp_core.bindings``, a ctypes module generated from that commit's
headers at build time. Most users never import it directly; ``llama_cpp``
re-exports the low-level API under the names ``llama-cpp-python`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ._errors import LibraryLoadError, LibraryNotFoundError, SymbolNotFoundError
from ._loader import libraries

__version__ = "0.4.0"

__all__ = [
    "__version__",
    "LLAMA_CPP_COMMIT",
    "Backend",
    "Device",
    "backends",
    "lib_dir",
    "bindings",
    "LibraryLoadError",
    "LibraryNotFoundError",
    "SymbolNotFoundError",
]


def __getattr__(name: str):
    # ``bindings`` and ``LLAMA_CPP_COMMIT`` import the generated module on first use.
    if name == "bindings":
        from . import _bindings

        return _bindings
    if name == "LLAMA_CPP_COMMIT":
        from ._bindings import LLAMA_CPP_COMMIT

        return LLAMA_CPP_COMMIT
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Device:
    """A device a loaded ggml backend offers, as ``ggml_backend_dev_*`` describe it.

    Attributes:
        name: The device's ggml name (``"CPU"``, ``"Vulkan0"``, ``"CUDA0"``).
        description: A human-readable description (the CPU or GPU model).
        type: ``"cpu"``, ``"gpu"``, ``"igpu"`` (integrated GPU) or ``"accel"``.
        memory_free: Free memory in bytes, as the backend reports it.
        memory_total: Total memory in bytes.
    """

    name: str
    description: str
    type: str  # "cpu", "gpu", "igpu" or "accel"
    memory_free: int
    memory_total: int


@dataclass(frozen=True)
class Backend:
    """One ggml backend library that was found: whether it loaded, why not, and its devices.

    Attributes:
        name: The backend (``"cpu"``, ``"rpc"``, ``"vulkan"``, ``"cuda"``, ...).
        path: The library file.
        loaded: Whether it is loaded and in use.
        variant: For the CPU backend, the instruction-set variant (``"haswell"``,
            ``"skylakex"``, ...); ``None`` otherwise.
        score: The variant's ``ggml_backend_score()`` on this machine (0: cannot run
            here); the highest-scoring CPU variant is loaded.
        error: Why it did not load, when it did not.
        devices: The devices of a loaded backend.
        plugin: The accelerator plugin package that provided it (its entry-point
            name, ``"vulkan"``, ``"cuda13"``); ``None`` for the core wheel's own.
    """

    name: str
    path: Path
    loaded: bool
    variant: str | None = None
    score: int | None = None
    error: str | None = None
    devices: tuple[Device, ...] = field(default_factory=tuple)
    plugin: str | None = None  # the plugin package's entry-point name ("vulkan", "cuda13"); None: the core wheel


_DEV_TYPES = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel"}


def lib_dir() -> Path:
    """Find the directory the native libraries are loaded from.

    Loads the libraries if they are not loaded yet.

    Returns:
        The package's own ``lib/`` directory, or ``$LLAMA_CPP_LIB_PATH`` when set.

    Raises:
        LibraryNotFoundError: A required library is missing there.
        LibraryLoadError: A library exists but the dynamic loader refused it.
    """
    return libraries().directory


def backends() -> list[Backend]:
    """List every ggml backend library found, whether it loaded, and the devices of those that did.

    Loads the libraries if they are not loaded yet. ``$LLAMA_CPP_BACKENDS`` (e.g.
    ``cpu`` or ``vulkan,cpu``) restricts which accelerators load; it is read when the
    libraries are first loaded in a process.

    Returns:
        One `Backend` per library found; ``error`` says why one did
        not load.

    Raises:
        LibraryNotFoundError: A required library is missing.
        LibraryLoadError: A required library exists but the dynamic loader refused it.
    """
    import ctypes

    from . import _bindings as b

    libs = libraries()
    devices: dict[str, list[Device]] = {}
    for i in range(b.ggml_backend_dev_count()):
        dev = b.ggml_backend_dev_get(i)
        reg = b.ggml_backend_dev_backend_reg(dev)
        reg_name = (b.ggml_backend_reg_name(reg) or b"").decode().lower()
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        b.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        devices.setdefault(reg_name, []).append(
            Device(
                name=(b.ggml_backend_dev_name(dev) or b"").decode(),
                description=(b.ggml_backend_dev_description(dev) or b"").decode(),
                type=_DEV_TYPES.get(b.ggml_backend_dev_type(dev), "unknown"),
                memory_free=free.value,
                memory_total=total.value,
            )
        )
    return [
        Backend(
            name=lib.name, path=lib.path, loaded=lib.loaded, variant=lib.variant, score=lib.score,
            error=lib.error, devices=tuple(devices.get(lib.name, ())) if lib.loaded else (), plugin=lib.plugin,
        )
        for lib in libs.backends
    ]
