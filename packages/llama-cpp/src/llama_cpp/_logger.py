"""The ``logging`` loggers llama.cpp's own output goes to.

``llama-cpp-python`` logs under the name ``"llama-cpp-python"``; code that
configures or silences that logger keeps working. Native log lines are routed
here by ``llama_cpp_core`` (no file descriptor is ever redirected).
"""

from __future__ import annotations

import logging

from llama_cpp_core import _log

__all__ = ["logger", "set_verbose"]

logger = logging.getLogger("llama-cpp-python")

_log.set_logger(logger)


def set_verbose(verbose: bool) -> None:
    """DEBUG when ``verbose`` (every native log line), else only errors."""
    logger.setLevel(logging.DEBUG if verbose else logging.ERROR)
