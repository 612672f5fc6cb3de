"""Find and load the llama.cpp shared libraries and ggml backends.

This is the only module that opens native libraries (``ctypes.CDLL``).

Where the core libraries are looked for:

1. ``$LLAMA_CPP_LIB_PATH`` (a directory; the name ``llama-cpp-python`` uses);
   when it is set, nothing else is searched;
2. otherwise ``llama_cpp_core/lib/`` inside this package.

ggml is built with ``GGML_BACKEND_DL``: the compute backends are separate
libraries (``libggml-cpu-<variant>.so``, ``libggml-rpc.so``, and from plugin
packages ``libggml-cuda.so`` ...). They are loaded here by path, never by
searching next to the Python executable. Of the CPU variants the one whose
``ggml_backend_score()`` is highest on this machine is loaded, so a wheel with
every x86 variant runs on old and new CPUs alike.

Accelerator plugins are packages that declare an entry point in the group
``llama_cpp_core.backends`` naming their import package; their ``lib/``
directory is scanned the same way. They are found without importing them.
A plugin's library is first opened in a child process (``_probe``): a missing
driver or a library that aborts while initialising is then a skipped backend
with a logged reason, never a crash of this interpreter. Where a plugin
package has a ``_preload`` module, its ``preload()`` runs before the library
opens (the CUDA plugins open NVIDIA's runtime wheels there).

Which backends load:

- the CPU backend always (llama.cpp needs it) and RPC always (it has no
  devices until ``rpc_servers`` adds some);
- ``$LLAMA_CPP_BACKENDS`` unset: the best accelerator kind that has a device
  (``cuda`` > ``hip`` > ``metal`` > ``vulkan`` > others), only that one, so one
  GPU is never offered twice through two backends;
- ``$LLAMA_CPP_BACKENDS=vulkan,cpu`` (comma-separated backend names): exactly
  the listed accelerators; ``cpu`` alone means no accelerator.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import LibraryLoadError, LibraryNotFoundError

__all__ = ["Libraries", "BackendLibrary", "libraries", "lib_dirs", "open_library", "PLUGIN_GROUP"]

logger = logging.getLogger("llama_cpp_core")

PLUGIN_GROUP = "llama_cpp_core.backends"
PACKAGE_LIB_DIR = Path(__file__).resolve().parent / "lib"

if sys.platform == "win32":
    _PREFIX, _EXT = "", ".dll"
elif sys.platform == "darwin":
    _PREFIX, _EXT = "lib", ".dylib"
else:
    _PREFIX, _EXT = "lib", ".so"
# ggml names its loadable backends lib<name>.so on every non-Windows system.
_BACKEND_PREFIX, _BACKEND_EXT = ("ggml-", ".dll") if sys.platform == "win32" else ("libggml-", ".so")
_CORE_LIBS = ("ggml-base", "ggml", "llama")
# Optional libraries opened on first use of one of their headers' functions, not at import:
# libmtmd (images and audio for multimodal models) costs load time nobody else should pay.
_LAZY_LIBS = {"mtmd.h": "mtmd", "mtmd-helper.h": "mtmd"}
_NOT_BACKENDS = {"base"}

# default order of preference between accelerator kinds (lower first)
_PREFERENCE = {"cuda": 0, "hip": 1, "metal": 2, "vulkan": 3}
_ALWAYS = {"cpu", "rpc"}
PROBE_TIMEOUT_S = 60.0
_NO_DEVICE = "the backend loaded but found no usable device"

_RTLD_LOCAL = getattr(os, "RTLD_LOCAL", 0)
_RTLD_NOW = getattr(os, "RTLD_NOW", 0)


@dataclass
class BackendLibrary:
    """One ggml backend library file and what happened when it was loaded."""

    name: str                 # backend name: "cpu", "rpc", "cuda", ...
    path: Path
    variant: str | None = None  # CPU ISA variant ("haswell", ...), None for others
    score: int | None = None    # ggml_backend_score() where the library has one
    loaded: bool = False
    error: str | None = None
    plugin: str | None = None   # entry-point name of the plugin package it came from; None: the core
    package: str | None = None  # the plugin's import package


@dataclass
class Libraries:
    """The loaded core libraries and the backends that were tried."""

    directory: Path
    llama: ctypes.CDLL
    ggml: ctypes.CDLL
    ggml_base: ctypes.CDLL
    backends: list[BackendLibrary] = field(default_factory=list)
    # backend libraries that loaded, searched for symbols after the core three
    backend_handles: list[ctypes.CDLL] = field(default_factory=list)
    # lazily opened optional libraries (see _LAZY_LIBS), by name; an error string where opening failed
    optional: dict[str, ctypes.CDLL | str] = field(default_factory=dict)

    @property
    def symbol_sources(self) -> list[ctypes.CDLL]:
        return [self.llama, self.ggml, self.ggml_base, *self.backend_handles]

    def optional_library(self, name: str) -> ctypes.CDLL:
        """Open (once) an optional library of the core, such as ``mtmd``; raises if it cannot be."""
        with _lock:
            found = self.optional.get(name)
            if found is None:
                path = self.directory / f"{_PREFIX}{name}{_EXT}"
                try:
                    if not path.is_file():
                        raise LibraryNotFoundError(
                            f"{path.name} is not in {self.directory}: this llama-cpp-core build has no {name} "
                            "library; install a llama-cpp-core wheel (pip install --force-reinstall llama-cpp-core)"
                            " or build llama.cpp with it"
                        )
                    found = _open(path)
                    if name == "mtmd":
                        from . import _log

                        _log.install_mtmd(found)
                except (LibraryNotFoundError, LibraryLoadError) as e:
                    found = str(e)
                self.optional[name] = found
        if isinstance(found, str):
            raise LibraryLoadError(found)
        return found

    def sources_for(self, header: str) -> list[ctypes.CDLL]:
        """The libraries that export the functions declared in ``header``."""
        lazy = _LAZY_LIBS.get(header)
        return [self.optional_library(lazy)] if lazy else self.symbol_sources


def _env_dir() -> Path | None:
    value = os.environ.get("LLAMA_CPP_LIB_PATH")
    return Path(value).expanduser() if value else None


def lib_dirs() -> list[Path]:
    """Directories searched for the core libraries: ``$LLAMA_CPP_LIB_PATH`` alone when set
    (a custom build must never be silently replaced by the packaged one), else the package's."""
    env = _env_dir()
    return [env] if env is not None else [PACKAGE_LIB_DIR]


def _plugin_entry_points() -> list[tuple[str, str]]:
    """(name, import package) of the ``llama_cpp_core.backends`` entry points installed on sys.path.

    A direct scan of ``*.dist-info/entry_points.txt`` files: importing
    importlib.metadata alone would cost more than the rest of the import.
    """
    import configparser

    found = []
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as it:
                infos = [e.path for e in it if e.name.endswith(".dist-info")]
        except OSError:
            continue
        for info in infos:
            path = os.path.join(info, "entry_points.txt")
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            if PLUGIN_GROUP not in text:
                continue
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            parser.read_string(text)
            found += [(name, value.strip()) for name, value in parser.items(PLUGIN_GROUP)]
    return found


def selected_backends() -> list[str] | None:
    """The backend names ``$LLAMA_CPP_BACKENDS`` allows, lower-case; None when it is unset or empty."""
    value = os.environ.get("LLAMA_CPP_BACKENDS", "").strip()
    if not value:
        return None
    return [n.strip().lower() for n in value.split(",") if n.strip()]


def plugin_dirs() -> list[tuple[str, Path]]:
    """(entry-point name, lib dir) of every installed backend plugin."""
    return [(name, lib) for name, _package, lib in _plugins()]


def _plugins() -> list[tuple[str, str, Path]]:
    """(entry-point name, import package, lib dir) of every installed backend plugin."""
    found = []
    seen = set()
    for name, value in _plugin_entry_points():
        value = value.split(":", 1)[0].strip()
        if (name, value) in seen:  # the same distribution seen through two sys.path entries
            continue
        seen.add((name, value))
        try:
            spec = importlib.util.find_spec(value)
        except (ImportError, ValueError) as e:
            logger.warning("backend plugin %s (%s) cannot be located: %s", name, value, e)
            continue
        if spec is None or not spec.submodule_search_locations:
            logger.warning("backend plugin %s names %r, which is not an installed package", name, value)
            continue
        for loc in spec.submodule_search_locations:
            lib = Path(loc) / "lib"
            if lib.is_dir():
                found.append((name, value, lib))
    return found


def _open(path: Path, mode: int = _RTLD_LOCAL | _RTLD_NOW) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(str(path), mode=mode)
    except OSError as e:
        raise LibraryLoadError(
            f"could not load {path}: {e}. The file exists but the dynamic loader refused it: "
            "reinstall llama-cpp-core for this platform (pip install --force-reinstall llama-cpp-core)"
        ) from e


def open_library(path: Path) -> ctypes.CDLL:
    """Open one more native library (e.g. for compatibility helpers), RTLD_LOCAL."""
    libraries()  # the core libraries first, so its dependencies resolve to them
    return _open(Path(path))


def _find_core_dir() -> Path:
    name = f"{_PREFIX}llama{_EXT}"
    searched = []
    for d in lib_dirs():
        if (d / name).is_file():
            return d
        searched.append(str(d / name))
    hint = (
        "LLAMA_CPP_LIB_PATH is set; point it at the directory holding the llama.cpp libraries or unset it"
        if _env_dir() is not None
        else "the llama-cpp-core installation is incomplete: pip install --force-reinstall llama-cpp-core"
    )
    raise LibraryNotFoundError(f"llama.cpp library {name} not found (looked for {', '.join(searched)}); {hint}")


def _backend_files(directory: Path) -> list[BackendLibrary]:
    out = []
    for p in sorted(directory.glob(f"{_BACKEND_PREFIX}*{_BACKEND_EXT}")):
        stem = p.name[len(_BACKEND_PREFIX):-len(_BACKEND_EXT)]
        if stem in _NOT_BACKENDS or not stem:
            continue
        name, _, variant = stem.partition("-") if stem.startswith("cpu") else (stem, "", "")
        out.append(BackendLibrary(name=name, path=p, variant=variant or None))
    return out


def _score(lib: BackendLibrary) -> ctypes.CDLL | None:
    """Open a candidate and read its ggml_backend_score(); None if it cannot load."""
    try:
        handle = ctypes.CDLL(str(lib.path), mode=_RTLD_LOCAL | _RTLD_NOW)
    except OSError as e:
        lib.error = str(e)
        return None
    try:
        fn = handle["ggml_backend_score"]
    except AttributeError:
        lib.score = None
        return handle
    fn.restype = ctypes.c_int
    fn.argtypes = []
    lib.score = int(fn())
    return handle


def _close(handle: ctypes.CDLL | None) -> None:
    if handle is not None and sys.platform != "win32":
        import _ctypes

        _ctypes.dlclose(handle._handle)


def _register(ggml: ctypes.CDLL, lib: BackendLibrary, out: Libraries, handle: ctypes.CDLL | None = None) -> None:
    load = ggml["ggml_backend_load"]
    load.argtypes = [ctypes.c_char_p]
    load.restype = ctypes.c_void_p
    reg = load(os.fsencode(lib.path))
    if not reg:
        lib.error = lib.error or "ggml_backend_load returned NULL (the backend found no usable device or failed to initialise)"
        _close(handle)
        return
    lib.loaded = True
    # ggml dlopen'ed the same file, so this handle is the same instance: kept for symbol lookup
    out.backend_handles.append(handle or ctypes.CDLL(str(lib.path), mode=_RTLD_LOCAL | _RTLD_NOW))


def _preload(package: str) -> None:
    """Run ``<package>._preload.preload()`` where the plugin has one (e.g. CUDA runtime wheels)."""
    try:
        spec = importlib.util.find_spec(f"{package}._preload")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return
    from importlib import import_module

    import_module(f"{package}._preload").preload()


def _probe(lib: BackendLibrary, core_dir: Path) -> tuple[int, str] | None:
    """Load a plugin library in a child process first; returns its device count and what the
    backend logged there, or None with ``lib.error`` set when it cannot load (missing driver,
    abort, timeout)."""
    import json
    import signal
    import subprocess

    cmd = [sys.executable, "-m", "llama_cpp_core._probe", str(core_dir), str(lib.path), lib.package or ""]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        lib.error = f"probe timed out after {PROBE_TIMEOUT_S:.0f} s while loading {lib.path.name}"
        return None
    except OSError as e:
        lib.error = f"could not start the probe process: {e}"
        return None
    said = [line.strip() for line in proc.stderr.strip().splitlines()
            if line.strip() and not line.startswith("load_backend:")]
    tail = " | ".join(said[-3:])
    if proc.returncode != 0:
        if proc.returncode < 0:
            try:
                how = f"was killed by {signal.Signals(-proc.returncode).name}"
            except ValueError:
                how = f"was killed by signal {-proc.returncode}"
        else:
            how = f"exited with status {proc.returncode}"
        lib.error = f"loading {lib.path.name} in a probe process {how}" + (f": {tail}" if tail else "")
        return None
    try:
        report = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        lib.error = f"the probe process for {lib.path.name} gave no report" + (f": {tail}" if tail else "")
        return None
    if report.get("error"):
        lib.error = report["error"] + (f" ({tail})" if tail and tail not in report["error"] else "")
        return None
    return int(report.get("devices", 0)), tail


def _device_count(ggml: ctypes.CDLL, lib: BackendLibrary) -> int:
    """Devices of a registered backend (found by its registry name)."""
    by_name = ggml["ggml_backend_reg_by_name"]
    by_name.argtypes = [ctypes.c_char_p]
    by_name.restype = ctypes.c_void_p
    count = ggml["ggml_backend_reg_dev_count"]
    count.argtypes = [ctypes.c_void_p]
    count.restype = ctypes.c_size_t
    reg = by_name(lib.name.encode())
    return int(count(reg)) if reg else 0


def _load_plugin(out: Libraries, lib: BackendLibrary) -> int:
    """Probe, preload and register one plugin backend; its device count (0 when skipped)."""
    if os.environ.get("LLAMA_CPP_BACKEND_PROBE", "1") != "0":
        probed = _probe(lib, out.directory)
        if probed is None:
            return 0
        n, said = probed
        if n == 0:
            lib.error = _NO_DEVICE + (f" ({said})" if said else "") + (
                "; ggml hides CPU-type Vulkan devices such as lavapipe unless GGML_VK_VISIBLE_DEVICES is set"
                if lib.name == "vulkan" else ""
            )
            return 0
    if lib.package:
        try:
            _preload(lib.package)
        except Exception as e:  # a plugin's preload must not break the import
            lib.error = f"{lib.package}._preload failed: {type(e).__name__}: {e}"
            return 0
    _register(out.ggml, lib, out)
    if not lib.loaded:
        return 0
    n = _device_count(out.ggml, lib)
    if n == 0 and lib.error is None:
        lib.error = _NO_DEVICE
    return n


def _load_backends(out: Libraries) -> None:
    selected = selected_backends()
    sources: list[tuple[str | None, str | None, Path]] = [(None, None, out.directory)]
    sources += [(name, package, lib) for name, package, lib in _plugins()]
    accelerators: list[BackendLibrary] = []
    for plugin, package, directory in sources:
        files = _backend_files(directory)
        for f in files:
            f.plugin, f.package = plugin, package
        cpu = [f for f in files if f.name == "cpu"]
        others = [f for f in files if f.name != "cpu"]
        if cpu:
            handles = {id(f): _score(f) for f in cpu}
            usable = [f for f in cpu if handles[id(f)] is not None and (f.score is None or f.score > 0)]
            best = max(usable, key=lambda f: f.score or 0, default=None)
            for f in cpu:
                if f is best:
                    continue
                _close(handles[id(f)])
                if f.error is None:
                    f.error = "not selected: " + ("unsupported on this CPU" if f.score == 0 else f"score {f.score} < {best.score if best else 0}")
            out.backends.extend(cpu)
            if best is not None:
                _register(out.ggml, best, out, handles[id(best)])
        for f in others:
            out.backends.append(f)
            if f.name in _ALWAYS and plugin is None:
                _register(out.ggml, f, out)
            else:
                accelerators.append(f)
        logger.debug("backends from %s (%s): %s", plugin or "llama-cpp-core", directory, [(b.name, b.variant) for b in files])
    # accelerators: the listed ones, or the most preferred kind that has a device
    accelerators.sort(key=lambda f: (_PREFERENCE.get(f.name, len(_PREFERENCE)), f.name))
    chosen: str | None = None
    for f in accelerators:
        if selected is not None and f.name not in selected:
            f.error = f"not selected: LLAMA_CPP_BACKENDS={os.environ.get('LLAMA_CPP_BACKENDS', '')}"
            continue
        if selected is None and chosen is not None and f.name != chosen:
            f.error = f"not selected: {chosen} is preferred (set LLAMA_CPP_BACKENDS={f.name},cpu to use {f.name})"
            continue
        if f.plugin is None:
            _register(out.ggml, f, out)
            n = _device_count(out.ggml, f) if f.loaded else 0
        else:
            n = _load_plugin(out, f)
        if n > 0:
            chosen = chosen or f.name
        elif f.error and f.error.startswith(_NO_DEVICE):
            # installed where it has nothing to drive: worth a line in the log, not a warning
            logger.info("backend %s (%s) skipped: %s", f.name, f.path, f.error)
        elif f.error and not f.loaded:
            logger.warning("backend %s (%s) skipped: %s", f.name, f.path, f.error)
    if selected is not None:
        known = {b.name for b in out.backends} | _ALWAYS
        unknown = [n for n in selected if n not in known]
        if unknown:
            logger.warning("LLAMA_CPP_BACKENDS names %s, which no installed backend provides (found: %s)",
                           unknown, sorted(known))
    if not any(b.loaded and b.name == "cpu" for b in out.backends):
        tried = "; ".join(f"{b.path.name}: {b.error}" for b in out.backends if b.name == "cpu") or "no libggml-cpu library found"
        raise LibraryLoadError(
            f"no CPU backend could be loaded from {out.directory} ({tried}); "
            "reinstall llama-cpp-core (pip install --force-reinstall llama-cpp-core)"
        )


_lock = threading.RLock()
_loaded: Libraries | None = None


def libraries() -> Libraries:
    """Load (once) and return the llama.cpp libraries and backends."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None:
            directory = _find_core_dir()
            if sys.platform == "win32":
                os.add_dll_directory(str(directory))
            handles = {name: _open(directory / f"{_PREFIX}{name}{_EXT}") for name in _CORE_LIBS}
            from . import _log

            _log.install(handles["ggml-base"], handles["llama"])
            libs = Libraries(directory, handles["llama"], handles["ggml"], handles["ggml-base"])
            _load_backends(libs)
            _loaded = libs
    return _loaded
