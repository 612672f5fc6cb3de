"""The process-wide table of chat handlers, keyed by ``chat_format`` name."""

from __future__ import annotations

import importlib
import threading
from typing import Any, Callable, Dict, List, TypeVar

from .._errors import LlamaArgumentError
from .._utils import Singleton
from .protocols import LlamaChatCompletionHandler

__all__ = [
    "LlamaChatCompletionHandlerNotFoundException",
    "LlamaChatCompletionHandlerRegistry",
    "get_chat_completion_handler",
    "register_chat_completion_handler",
    "register_chat_format",
]

_H = TypeVar("_H", bound=Callable[..., Any])
_F = TypeVar("_F", bound=Callable[..., Any])


# the modules whose import registers the built-in formats and handlers; they are imported the first
# time the table is read, so a fresh process finds "chatml" without importing llama_chat_format first
_BUILTIN_MODULES = ("formats_chatml", "formats_instruct", "formats_llama", "formats_misc", "function_calling", "functionary")
_builtins_loaded = False
_builtins_lock = threading.RLock()


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _builtins_lock:
        if _builtins_loaded:
            return
        _builtins_loaded = True  # set first: the imports below register through this module
        try:
            for module in _BUILTIN_MODULES:
                importlib.import_module(f"{__package__}.{module}")
        except BaseException:
            _builtins_loaded = False
            raise


class LlamaChatCompletionHandlerNotFoundException(LlamaArgumentError):
    """No handler is registered under the requested ``chat_format`` name.

    A ``ValueError`` (and a ``LlamaError``), so code that catches bad arguments catches it too.
    """


class LlamaChatCompletionHandlerRegistry(Singleton):
    """Name -> handler table shared by the whole process.

    ``LlamaChatCompletionHandlerRegistry()`` always returns the same object.
    """

    _chat_handlers: Dict[str, LlamaChatCompletionHandler] = {}
    _lock = threading.Lock()

    def register_chat_completion_handler(
        self,
        name: str,
        chat_handler: LlamaChatCompletionHandler,
        overwrite: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("A chat handler needs a non-empty string name.")
        if not callable(chat_handler):
            raise ValueError(f"The chat handler for {name!r} must be callable, got {type(chat_handler).__name__}.")
        with self._lock:
            if not overwrite and name in self._chat_handlers:
                raise ValueError(
                    f"Formatter with name '{name}' is already registered. Use `overwrite=True` to overwrite it."
                )
            self._chat_handlers[name] = chat_handler

    def unregister_chat_handler(self, name: str) -> None:
        with self._lock:
            if name not in self._chat_handlers:
                raise ValueError(f"No formatter registered under the name '{name}'.")
            del self._chat_handlers[name]

    def get_chat_completion_handler_by_name(self, name: str) -> LlamaChatCompletionHandler:
        _load_builtins()
        try:
            return self._chat_handlers[name]
        except (KeyError, TypeError):
            raise LlamaChatCompletionHandlerNotFoundException(
                f"Invalid chat handler: {name} (valid formats: {self.names()})"
            ) from None

    def names(self) -> List[str]:
        """Every registered name, in registration order."""
        _load_builtins()
        return list(self._chat_handlers)


def get_chat_completion_handler(name: str) -> LlamaChatCompletionHandler:
    """The handler registered as ``name`` (raises ``LlamaChatCompletionHandlerNotFoundException``)."""
    return LlamaChatCompletionHandlerRegistry().get_chat_completion_handler_by_name(name)


def register_chat_completion_handler(name: str) -> Callable[[_H], _H]:
    """Decorator: register a chat completion handler under ``name`` and return it unchanged."""

    def decorator(handler: _H) -> _H:
        LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(name, handler)
        return handler

    return decorator


def register_chat_format(name: str) -> Callable[[_F], _F]:
    """Decorator: wrap a ``ChatFormatter`` into a handler registered as ``name``.

    The formatter itself is returned unchanged, so it stays callable directly.
    """
    from .adapter import chat_formatter_to_chat_completion_handler

    def decorator(formatter: _F) -> _F:
        handler = chat_formatter_to_chat_completion_handler(formatter)  # type: ignore[arg-type]
        LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(name, handler)
        return formatter

    return decorator


