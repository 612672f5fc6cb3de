"""Conversion of chat responses to the ``openai`` package's pydantic models (optional dependency)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from .protocols import ChatModel

__all__ = ["openai_types", "to_openai"]


def openai_types() -> Tuple[Any, Any]:
    """``(ChatCompletion, ChatCompletionChunk)`` from ``openai``; ImportError with the fix when missing."""
    try:
        from openai.types.chat import ChatCompletion, ChatCompletionChunk
    except ImportError as exc:
        raise ImportError(
            "create_chat_completion_openai_v1 returns objects of the 'openai' package, which is not installed. "
            "Install it with: pip install openai  (or: pip install 'llama-cpp[openai]'), "
            "or call create_chat_completion to get plain dicts."
        ) from exc
    return ChatCompletion, ChatCompletionChunk


def _chunks(chunk_type: Any, chunks: Iterable[Any]) -> Iterator[Any]:
    for chunk in chunks:
        yield chunk_type(**chunk)


def to_openai(llama: ChatModel, *args: Any, **kwargs: Any) -> Any:
    completion_type, chunk_type = openai_types()  # fail before doing any work
    result = llama.create_chat_completion(*args, **kwargs)
    if isinstance(result, dict):
        return completion_type(**result)
    return _chunks(chunk_type, result)
