"""Child-process probe of one backend plugin library (run by the loader, not imported by users).

``python -m llama_cpp_core._probe CORE_DIR LIBRARY [PACKAGE]`` opens the core's
libggml-base and libggml from CORE_DIR, runs PACKAGE's ``_preload`` if it has
one, loads LIBRARY with ``ggml_backend_load`` and prints one JSON line:
``{"devices": N, "names": [...]}`` or ``{"error": "..."}``. If loading aborts
or crashes, only this process dies; the parent reads the exit status.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path

__all__ = ["main"]


def _report(**fields: object) -> int:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int:
    core_dir, library = Path(argv[0]), Path(argv[1])
    package = argv[2] if len(argv) > 2 else ""
    if sys.platform == "win32":
        os.add_dll_directory(str(core_dir))
        names = ("ggml-base.dll", "ggml.dll")
    elif sys.platform == "darwin":
        names = ("libggml-base.dylib", "libggml.dylib")
    else:
        names = ("libggml-base.so", "libggml.so")
    mode = getattr(os, "RTLD_LOCAL", 0) | getattr(os, "RTLD_NOW", 0)
    ggml = None
    for name in names:
        ggml = ctypes.CDLL(str(core_dir / name), mode=mode)
    assert ggml is not None
    if package and importlib.util.find_spec(package) is not None:
        if importlib.util.find_spec(f"{package}._preload") is not None:
            try:
                importlib.import_module(f"{package}._preload").preload()
            except Exception as e:
                return _report(error=f"{package}._preload failed: {type(e).__name__}: {e}")
    # the dynamic loader's own message (missing libcuda.so.1, libvulkan.so.1, ...) if it refuses the file
    try:
        ctypes.CDLL(str(library), mode=mode)
    except OSError as e:
        return _report(error=f"the dynamic loader refused {library.name}: {e}")
    load = ggml["ggml_backend_load"]
    load.argtypes = [ctypes.c_char_p]
    load.restype = ctypes.c_void_p
    reg = load(os.fsencode(library))
    if not reg:
        return _report(error=f"ggml_backend_load({library.name}) returned NULL: the backend failed to initialise")
    count = ggml["ggml_backend_reg_dev_count"]
    count.argtypes = [ctypes.c_void_p]
    count.restype = ctypes.c_size_t
    get = ggml["ggml_backend_reg_dev_get"]
    get.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    get.restype = ctypes.c_void_p
    describe = ggml["ggml_backend_dev_description"]
    describe.argtypes = [ctypes.c_void_p]
    describe.restype = ctypes.c_char_p
    n = int(count(reg))
    found = [(describe(get(reg, i)) or b"").decode(errors="replace") for i in range(n)]
    return _report(devices=n, names=found)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
