"""The ``logging`` loggers llama.cpp's own output goes to.

``llama-cpp-python`` logs under the name ``"llama-cpp-python"``; code that
configures or silences that logger keeps working. Native log lines are routed
here by ``llama_cpp_core`` (no file descriptor is ever redirected).
"""

from __future__ import annotations

import logging
import sys

from llama_cpp_core import _log

__all__ = ["logger", "set_verbose"]

logger = logging.getLogger("llama-cpp-python")

_log.set_logger(logger)


_stderr_handler = logging.StreamHandler(sys.stderr)
_stderr_handler.setFormatter(logging.Formatter("%(message)s"))


def set_verbose(verbose: bool) -> None:
    """Choose how much of llama.cpp's log reaches the ``llama-cpp-python`` logger.

    When nothing else handles that logger (no handler on it or its ancestors),
    verbose output is written to ``sys.stderr``, as the API we replace does; an
    application that configured logging gets the records through its own
    handlers instead.

    Args:
        verbose: Every native log line (level ``DEBUG``) when true, only errors
            when false.
    """
    logger.setLevel(logging.DEBUG if verbose else logging.ERROR)
    if verbose and not logger.hasHandlers():
        logger.addHandler(_stderr_handler)
    elif not verbose and _stderr_handler in logger.handlers:
        logger.removeHandler(_stderr_handler)
