"""NumPy, imported when first used rather than when ``llama_cpp`` is.

Importing NumPy takes about as long as importing the rest of ``llama_cpp``
together, and many programs import ``llama_cpp`` without ever generating
(a command line's ``--help``, a framework checking which backends are
installed). Modules here write ``from ._numpy import np``: the first attribute
read imports NumPy and keeps the attribute on the stand-in, so every later
read is a plain attribute lookup, as cheap as on the real module. Type checkers
see the real module. ``sys.modules`` is left alone.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any

__all__ = ["np"]


class _ModuleOnFirstUse(types.ModuleType):
    """Stands in for a module until one of its attributes is read."""

    def __getattr__(self, attr: str) -> Any:  # only reached for attributes not copied over yet
        value = getattr(importlib.import_module(self.__name__), attr)
        setattr(self, attr, value)
        return value


if TYPE_CHECKING:
    import numpy as np
else:
    np = _ModuleOnFirstUse("numpy")
