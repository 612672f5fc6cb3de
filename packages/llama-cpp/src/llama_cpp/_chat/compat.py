"""Helpers under the private names ``llama-cpp-python``'s chat module has.

Custom handlers written for ``llama-cpp-python`` often call these (for
example ``_convert_completion_to_chat(completion, stream=stream)``); they are
thin wrappers over this package's own helpers.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .. import llama_types
from .adapter import response_format_grammar
from .convert import (
    chat_chunks_from_completion_chunks,
    chat_from_completion,
    chat_logprobs,
    tool_call_chat,
    tool_call_chunks_from_completion_chunks,
)
from .grammars import json_grammar
from .layouts import (
    chatml_layout,
    colon_layout,
    colon_space_layout,
    glm_layout,
    plain_layout,
    system_text,
    turns,
)

__all__ = [
    "_convert_completion_to_chat",
    "_convert_completion_to_chat_function",
    "_convert_text_completion_chunks_to_chat",
    "_convert_text_completion_logprobs_to_chat",
    "_convert_text_completion_to_chat",
    "_format_add_colon_single",
    "_format_add_colon_space_single",
    "_format_add_colon_two",
    "_format_chatglm3",
    "_format_chatml",
    "_format_no_colon_single",
    "_get_system_message",
    "_grammar_for_json",
    "_grammar_for_json_schema",
    "_grammar_for_response_format",
    "_map_roles",
]

Pairs = List[Tuple[str, Optional[str]]]


def _convert_text_completion_logprobs_to_chat(
    logprobs: Optional[llama_types.CompletionLogprobs],
) -> Optional[llama_types.ChatCompletionLogprobs]:
    return chat_logprobs(logprobs)  # type: ignore[arg-type]


def _convert_text_completion_to_chat(
    completion: llama_types.CreateCompletionResponse,
) -> llama_types.CreateChatCompletionResponse:
    return chat_from_completion(completion)  # type: ignore[arg-type]


def _convert_text_completion_chunks_to_chat(
    chunks: Iterator[llama_types.CreateCompletionStreamResponse],
) -> Iterator[llama_types.CreateChatCompletionStreamResponse]:
    return chat_chunks_from_completion_chunks(chunks)  # type: ignore[arg-type]


def _convert_completion_to_chat(
    completion_or_chunks: Union[llama_types.CreateCompletionResponse, Iterator[llama_types.CreateCompletionStreamResponse]],
    stream: bool = False,
) -> Union[llama_types.CreateChatCompletionResponse, Iterator[llama_types.CreateChatCompletionStreamResponse]]:
    if stream:
        return chat_chunks_from_completion_chunks(completion_or_chunks)  # type: ignore[arg-type]
    return chat_from_completion(completion_or_chunks)  # type: ignore[arg-type]


def _convert_completion_to_chat_function(
    tool_name: str,
    completion_or_chunks: Union[llama_types.CreateCompletionResponse, Iterator[llama_types.CreateCompletionStreamResponse]],
    stream: bool,
) -> Union[llama_types.CreateChatCompletionResponse, Iterator[llama_types.CreateChatCompletionStreamResponse]]:
    if stream:
        return tool_call_chunks_from_completion_chunks(completion_or_chunks, tool_name)  # type: ignore[arg-type]
    return tool_call_chat(completion_or_chunks, tool_name)  # type: ignore[arg-type]


def _grammar_for_json(verbose: bool = False) -> Any:
    return json_grammar(None, verbose=verbose)


def _grammar_for_json_schema(schema: str, verbose: bool = False, fallback_to_json: bool = True) -> Any:
    from ..llama_grammar import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(schema, verbose=verbose)
    except Exception:
        if fallback_to_json:
            return json_grammar(None, verbose=verbose)
        raise


def _grammar_for_response_format(response_format: Mapping[str, Any], verbose: bool = False) -> Any:
    return response_format_grammar(response_format, verbose)


def _get_system_message(messages: Sequence[Mapping[str, Any]]) -> str:
    return system_text(messages)


def _map_roles(messages: Sequence[Mapping[str, Any]], role_map: Dict[str, str]) -> Pairs:
    return turns(messages, role_map)


def _format_add_colon_single(system_message: str, messages: Pairs, sep: str) -> str:
    return colon_layout(system_message, messages, sep)


def _format_add_colon_two(system_message: str, messages: Pairs, sep: str, sep2: str) -> str:
    return colon_layout(system_message, messages, sep, sep2)


def _format_no_colon_single(system_message: str, messages: Pairs, sep: str) -> str:
    return plain_layout(system_message, messages, sep)


def _format_add_colon_space_single(system_message: str, messages: Pairs, sep: str) -> str:
    return colon_space_layout(system_message, messages, sep)


def _format_chatml(system_message: str, messages: Pairs, sep: str) -> str:
    return chatml_layout(system_message, messages, sep)


def _format_chatglm3(system_message: str, messages: Pairs, sep: str) -> str:
    return glm_layout(system_message, messages)
