"""Request and response TypedDicts (re-exported from ``llama_cpp_types``)."""

from llama_cpp_types import *  # noqa: F403
from llama_cpp_types import __all__  # noqa: F401
