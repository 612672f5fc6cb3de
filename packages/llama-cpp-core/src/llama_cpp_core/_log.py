"""Route llama.cpp's and ggml's log output into ``logging``.

One process-wide C callback (ggml keeps one) forwards each complete line to a
Python logger; llama.cpp never writes to the process's stdout/stderr itself
once it is installed. Continuation pieces (``GGML_LOG_LEVEL_CONT``) are joined
to the line they continue.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from typing import Iterator, List

__all__ = ["install", "install_mtmd", "set_logger", "get_logger", "capture_errors"]

# enum ggml_log_level: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5
_LEVELS = {0: logging.INFO, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_CONT = 5

_CALLBACK_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

_logger = logging.getLogger("llama_cpp_core")
_pending = threading.local()


def set_logger(logger: logging.Logger) -> None:
    """Send native log lines to ``logger`` from now on."""
    global _logger
    _logger = logger


def get_logger() -> logging.Logger:
    return _logger


def _on_log(level: int, text: bytes | None, _user_data: int | None) -> None:
    try:
        piece = (text or b"").decode("utf-8", errors="replace")
        if level == _CONT:
            lvl, buf = getattr(_pending, "value", (logging.DEBUG, ""))
        else:
            lvl, buf = _LEVELS.get(level, logging.INFO), ""
        buf += piece
        if not buf.endswith("\n"):
            _pending.value = (lvl, buf)
            return
        _pending.value = (lvl, "")
        captured = getattr(_pending, "errors", None)
        if captured is not None and lvl >= logging.ERROR:
            captured.append(buf.strip())
        if _logger.isEnabledFor(lvl):
            _logger.log(lvl, buf.rstrip("\n"))
    except Exception:  # never let an exception cross into C
        pass


_callback = _CALLBACK_TYPE(_on_log)


@contextlib.contextmanager
def capture_errors() -> Iterator[List[str]]:
    """Collect the error lines native code logs on this thread inside the block (they are logged as well),
    so that an exception raised after a failed call can say what llama.cpp said."""
    previous = getattr(_pending, "errors", None)
    lines: List[str] = []
    _pending.errors = lines
    try:
        yield lines
    finally:
        _pending.errors = previous


def install(ggml_base: ctypes.CDLL, llama: ctypes.CDLL) -> None:
    """Point ggml's and llama.cpp's loggers at ``_on_log``."""
    for lib, name in ((ggml_base, "ggml_log_set"), (llama, "llama_log_set")):
        fn = lib[name]
        fn.argtypes = [_CALLBACK_TYPE, ctypes.c_void_p]
        fn.restype = None
        fn(_callback, None)


def install_mtmd(mtmd: ctypes.CDLL) -> None:
    """The same for libmtmd, which keeps its own logger (the helper's setter covers both of its own)."""
    fn = mtmd["mtmd_helper_log_set"]
    fn.argtypes = [_CALLBACK_TYPE, ctypes.c_void_p]
    fn.restype = None
    fn(_callback, None)
