"""Small helpers shared by the package (and kept for clients that import them)."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, Dict, Iterator, Sequence

from ._logger import logger

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Singleton", "suppress_stdout_stderr", "common_prefix_length"]


def common_prefix_length(a: Sequence[int] | npt.NDArray[np.intc], b: Sequence[int] | npt.NDArray[np.intc]) -> int:
    """Count the leading tokens two sequences share.

    Args:
        a: Token ids.
        b: Token ids.

    Returns:
        The length of their common prefix.
    """
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class Singleton:
    """Base class whose subclasses have one instance each (``X() is X()``)."""

    _instances: Dict[type, Any] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls not in Singleton._instances:
            Singleton._instances[cls] = super().__new__(cls)
        return Singleton._instances[cls]


@contextlib.contextmanager
def suppress_stdout_stderr(disable: bool = True) -> Iterator[None]:
    """Silence llama.cpp's log output inside the block.

    Kept for code written for ``llama-cpp-python``, where it redirected the
    process's file descriptors. Here native output already goes through
    ``logging``, so this only raises the ``llama-cpp-python`` logger's level
    for the duration; no file descriptor is touched.

    Args:
        disable: Do nothing (callers pass ``disable=verbose``).

    Yields:
        Nothing; the logger's level is restored on exit.
    """
    if disable:
        yield
        return
    previous = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)
