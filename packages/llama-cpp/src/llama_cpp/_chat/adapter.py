"""The generic adapter: any ``ChatFormatter`` -> a chat completion handler.

All registered prompt formats and every GGUF ``chat_template.*`` handler go
through here. Steps: validate the request, render the prompt, tokenize it
(special tokens parsed, BOS only when the formatter did not add one), pick a
grammar (``response_format`` or a forced tool call), complete, and convert the
completion to the chat response shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional, Sequence, Union

from .. import llama_types
from . import convert, toolparse
from .grammars import json_grammar
from .messages import (
    merge_legacy_functions,
    prepare_messages,
    resolve_tool_choice,
    response_format_schema,
    validate_messages,
    validate_tools,
)
from .protocols import ChatFormatter, LlamaChatCompletionHandler
from .request import ChatRequest, RequestHandler

if TYPE_CHECKING:  # pragma: no cover
    from .._media import MediaPrompt
    from ..llama_grammar import LlamaGrammar
    from .protocols import ChatModel

__all__ = ["chat_formatter_to_chat_completion_handler", "response_format_grammar", "tool_parameters"]

ChatResult = Union[
    llama_types.CreateChatCompletionResponse,
    Iterator[llama_types.CreateChatCompletionStreamResponse],
]


def response_format_grammar(response_format: Any, verbose: bool = False) -> Optional[LlamaGrammar]:
    """The grammar a ``response_format`` asks for, or None for plain text."""
    wanted, schema = response_format_schema(response_format)
    if not wanted:
        return None
    return json_grammar(schema, verbose=verbose)


def tool_parameters(tools: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    for tool in tools:
        if tool["function"]["name"] == name:
            return tool["function"]["parameters"]
    raise ValueError(f"Tool choice '{name}' not found in tools.")  # resolve_tool_choice checks this first


def _required_call_grammar(tools: Sequence[Mapping[str, Any]], verbose: bool) -> LlamaGrammar:
    """JSON ``{"name": <tool>, "arguments": <its parameters>}`` for one of ``tools``."""
    envelope = {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "name": {"const": tool["function"]["name"]},
                    "arguments": tool["function"]["parameters"],
                },
                "required": ["name", "arguments"],
            }
            for tool in tools
        ]
    }
    return json_grammar(envelope, verbose=verbose)


def chat_formatter_to_chat_completion_handler(chat_formatter: ChatFormatter) -> LlamaChatCompletionHandler:
    """Wrap ``chat_formatter`` into a handler that completes the prompt it renders.

    ``tool_choice`` handling: a named tool forces a call to it (arguments
    constrained by its schema); ``"required"`` forces a call to one of the
    tools (the model picks which); ``"auto"`` (the default when tools are
    given) passes the tools to the template and turns tool calls the model
    writes in a common syntax (``<tool_call>{...}</tool_call>``, a bare
    ``{"name": ..., "arguments": ...}`` object, ...) into ``tool_calls``;
    ``"none"`` never reports tool calls.
    """

    def chat_completion_handler(llama: ChatModel, request: ChatRequest) -> ChatResult:
        return _complete(llama, chat_formatter, request)

    handler = RequestHandler(chat_completion_handler)
    handler.chat_formatter = chat_formatter  # type: ignore[attr-defined]
    return handler


def _complete(
    llama: ChatModel, formatter: ChatFormatter, request: ChatRequest,
    media: Optional[Callable[[str, bool], MediaPrompt]] = None,
) -> ChatResult:
    """Render, tokenize (or, with ``media``, wrap the text and its images for the Llama), complete, convert."""
    validate_messages(request.messages)
    validate_tools(request.tools, request.functions)
    tools, tool_choice = merge_legacy_functions(
        request.functions, request.function_call, request.tools, request.tool_choice
    )
    choice = resolve_tool_choice(tool_choice, tools, default="auto")
    verbose = bool(getattr(llama, "verbose", False))
    if (request.n != 1 or (request.best_of or 1) != 1) and tools and choice.mode != "none":
        raise ValueError("n > 1 and best_of are not supported together with tools; ask for one choice per request")

    messages: Any = prepare_messages(request.messages)
    result = formatter(
        messages=messages,
        functions=request.functions,
        function_call=request.function_call,
        tools=tools,
        tool_choice=tool_choice,
        **request.extra,
    )
    prompt_tokens: Any
    if media is not None:
        prompt_tokens = media(result.prompt, not result.added_special)
    else:
        prompt_tokens = llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
    stop = request.stop_list(result.stop)

    grammar = request.grammar
    format_grammar = response_format_grammar(request.response_format, verbose)
    if format_grammar is not None:
        grammar = format_grammar

    if choice.mode == "named" and tools:
        assert choice.name is not None
        grammar = json_grammar(tool_parameters(tools, choice.name), verbose=verbose)
        completion = request.complete(
            llama, prompt_tokens, stream=request.stream, stop=stop, grammar=grammar,
            stopping_criteria=result.stopping_criteria,
        )
        if request.stream:
            return convert.tool_call_chunks_from_completion_chunks(completion, choice.name, request.top_n)  # type: ignore[arg-type]
        return convert.tool_call_chat(completion, choice.name, request.top_n)  # type: ignore[arg-type]

    if choice.mode == "required" and tools:
        completion = request.complete(
            llama, prompt_tokens, stream=False, stop=stop, grammar=_required_call_grammar(tools, verbose),
            stopping_criteria=result.stopping_criteria,
        )
        return toolparse.envelope_response(completion, request.stream, request.top_n)  # type: ignore[arg-type]

    completion = request.complete(
        llama, prompt_tokens, stream=request.stream, stop=stop, grammar=grammar,
        stopping_criteria=result.stopping_criteria,
    )
    names = [t["function"]["name"] for t in tools or []]
    parse_calls = choice.mode == "auto" and bool(names) and any(n in result.prompt for n in names)
    if request.stream:
        chunks = convert.chat_chunks_from_completion_chunks(completion, request.top_n)  # type: ignore[arg-type]
        return toolparse.stream_with_tool_calls(chunks, names) if parse_calls else chunks
    response = convert.chat_from_completion(completion, request.top_n)  # type: ignore[arg-type]
    return toolparse.response_with_tool_calls(response, names) if parse_calls else response


