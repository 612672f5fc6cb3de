"""The ``chatml-function-calling`` handler: tool use for any ChatML model.

The tools are described in the system message; the model answers either
``message:\\n<text>`` or one or more ``functions.<name>:\\n<JSON arguments>``
blocks. Generation is steered with grammars:

* a short greedy *probe* decides between a message and a call (and which
  tool), constrained to exactly those choices;
* arguments are generated under the grammar of the tool's JSON schema, so they
  always parse (unless cut by ``max_tokens``, then ``finish_reason`` is
  ``"length"``);
* after each call a further probe lets the model add another call or stop.

``tool_choice``: ``"none"`` (tools hidden, plain chat), ``"auto"`` (the
default when tools are given), ``"required"`` (at least one call) or a named
tool (exactly one call to it). All of them stream.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .. import llama_types
from . import convert
from .adapter import response_format_grammar, tool_parameters
from .convert import ChatStream, ToolCall, tool_call_id, tool_calls_message
from .grammars import gbnf_choice, grammar_from_gbnf, json_grammar
from .messages import (
    ToolChoice,
    flatten_text_parts,
    merge_legacy_functions,
    resolve_tool_choice,
    validate_messages,
    validate_tools,
)
from .registry import register_chat_completion_handler
from .request import ChatRequest, request_handler

if TYPE_CHECKING:  # pragma: no cover
    from ..llama_grammar import LlamaGrammar
    from .protocols import ChatModel

__all__ = ["CHATML_FUNCTION_CALLING_INSTRUCTIONS", "chatml_function_calling", "render_chatml_function_calling_prompt"]

CHATML_FUNCTION_CALLING_INSTRUCTIONS = (
    "You can respond to users messages with either a single message or one or more function calls."
    "\n\nTo respond with a message begin the message with 'message:', use the following format:"
    "\n\nmessage:\n<message>"
    "\n\nTo respond with one or more function calls begin the message with 'functions.<function_name>:', "
    "use the following format:"
    '\n\nfunctions.<function_name>:\n{ "arg1": "value1", "arg2": "value2" }'
    '\nfunctions.<function_name>:\n{ "arg1": "value1", "arg2": "value2" }'
)

_END = "<|im_end|>"
_MAX_CALLS = 8

ChatResult = Union[
    llama_types.CreateChatCompletionResponse,
    Iterator[llama_types.CreateChatCompletionStreamResponse],
]


def _tool_block(tools: List[Mapping[str, Any]]) -> str:
    parts = ["\n\nYou have access to the following functions:\n"]
    for tool in tools:
        function = tool["function"]
        parts.append(f"\nfunctions.{function['name']}:\n")
        description = function.get("description")
        if isinstance(description, str) and description.strip():
            parts.extend(f"// {line}\n" for line in description.strip().splitlines())
        parts.append(json.dumps(function["parameters"], sort_keys=True, ensure_ascii=False) + "\n")
    parts.append("\n\n" + CHATML_FUNCTION_CALLING_INSTRUCTIONS)
    return "".join(parts)


def _text(content: Any) -> str:
    content = flatten_text_parts(content)
    return content if isinstance(content, str) else ""


def _arguments_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)


def render_chatml_function_calling_prompt(
    messages: List[Mapping[str, Any]],
    tools: Optional[List[Mapping[str, Any]]] = None,
) -> str:
    """The prompt, ending with the open assistant turn; ``tools`` None hides the tool protocol."""
    show_tools = bool(tools)
    parts: List[str] = []
    has_system = any(m.get("role") in ("system", "developer") for m in messages)
    if show_tools and not has_system:
        parts.append(f"<|im_start|>system\n{_tool_block(tools).lstrip()}{_END}\n")  # type: ignore[arg-type]
    tools_added = False
    for message in messages:
        role = message["role"]
        if role in ("system", "developer"):
            body = _text(message.get("content"))
            if show_tools and not tools_added:
                body += _tool_block(tools)  # type: ignore[arg-type]
                tools_added = True
            parts.append(f"<|im_start|>system\n{body}{_END}\n")
        elif role == "user":
            parts.append(f"<|im_start|>user\n{_text(message.get('content'))}{_END}\n")
        elif role == "assistant":
            pieces: List[str] = []
            content = _text(message.get("content"))
            if content:
                pieces.append(("message:\n" if show_tools else "") + content)
            calls = list(message.get("tool_calls") or [])
            if not calls and message.get("function_call"):
                calls = [{"function": message["function_call"]}]
            for call in calls:
                function = call["function"]
                pieces.append(f"functions.{function['name']}:\n{_arguments_text(function.get('arguments'))}")
            parts.append("<|im_start|>assistant\n" + "\n".join(pieces) + f"{_END}\n")
        elif role == "tool":
            parts.append(f"<|im_start|>tool\n{_text(message.get('content'))}{_END}\n")
        elif role == "function":
            parts.append(f"<|im_start|>function\nfunctions.{message['name']}:\n{_text(message.get('content'))}{_END}\n")
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


def _choice_grammar(names: List[str], allow_message: bool, allow_end: bool) -> str:
    call = '"functions." name ":"'
    if allow_end:  # after a call: another one on the next line, or the end of the turn
        root = f'("\\n" {call})?'
    elif allow_message:
        root = f'{call} | "message:"'
    else:
        root = call
    return f"root ::= {root}\nname ::= {gbnf_choice(names)}\n"


def _probe(
    llama: ChatModel,
    request: ChatRequest,
    prompt: str,
    names: List[str],
    *,
    allow_message: bool,
    allow_end: bool = False,
) -> Tuple[Optional[str], int]:
    """Greedily pick the next step: ``(tool name, tokens used)``; ``None`` = a message / no more calls."""
    grammar = grammar_from_gbnf(_choice_grammar(names, allow_message, allow_end), verbose=False)
    completion = request.complete(
        llama, prompt, stream=False, stop=[], grammar=grammar, logprobs=False,
        temperature=0.0, max_tokens=len("functions.:") + max(len(n) for n in names) + 4,
    )
    text = completion["choices"][0]["text"].lstrip("\n")  # type: ignore[index]
    used = completion["usage"]["completion_tokens"]  # type: ignore[index]
    if text.startswith("functions.") and text.endswith(":") and text[len("functions."):-1] in names:
        return text[len("functions."):-1], used
    return None, used


@register_chat_completion_handler("chatml-function-calling")
@request_handler
def chatml_function_calling(llama: ChatModel, request: ChatRequest) -> ChatResult:
    """Chat with tool use over ChatML (see the module docstring)."""
    messages, functions, function_call, tools, tool_choice = (
        request.messages, request.functions, request.function_call, request.tools, request.tool_choice)
    stream, response_format, grammar = request.stream, request.response_format, request.grammar
    validate_messages(messages)
    validate_tools(tools, functions)
    merged_tools, merged_choice = merge_legacy_functions(functions, function_call, tools, tool_choice)
    choice = resolve_tool_choice(
        merged_choice, merged_tools, default="auto", not_found="Tool with name '{name}' not found in tools"
    )
    verbose = bool(getattr(llama, "verbose", False))
    stop_list = request.stop_list(_END)
    text_grammar = response_format_grammar(response_format, verbose) or grammar

    if choice.mode == "none":
        prompt = render_chatml_function_calling_prompt(messages)  # type: ignore[arg-type]
        completion = request.complete(llama, prompt, stream=stream, stop=stop_list, grammar=text_grammar)
        if stream:
            return convert.chat_chunks_from_completion_chunks(completion, request.top_n)  # type: ignore[arg-type]
        return convert.chat_from_completion(completion, request.top_n)  # type: ignore[arg-type]

    assert merged_tools is not None
    prompt = render_chatml_function_calling_prompt(messages, merged_tools)  # type: ignore[arg-type]
    if choice.mode == "named":
        assert choice.name is not None
        prompt += f"functions.{choice.name}:\n"
        args_grammar = json_grammar(tool_parameters(merged_tools, choice.name), verbose=verbose)
        completion = request.complete(llama, prompt, stream=stream, stop=stop_list, grammar=args_grammar)
        if stream:
            return convert.tool_call_chunks_from_completion_chunks(completion, choice.name, request.top_n)  # type: ignore[arg-type]
        return convert.tool_call_chat(completion, choice.name, request.top_n)  # type: ignore[arg-type]

    session = _ToolSession(llama, request, prompt, merged_tools, choice, stop_list, text_grammar, verbose)
    return session.stream() if stream else session.run()


class _ToolSession:
    """One "auto" / "required" turn: probe, then a message or a series of calls."""

    def __init__(
        self,
        llama: ChatModel,
        request: ChatRequest,
        prompt: str,
        tools: Sequence[Mapping[str, Any]],
        choice: ToolChoice,
        stop: List[str],
        text_grammar: Optional[LlamaGrammar],
        verbose: bool,
    ) -> None:
        self.llama = llama
        self.request = request
        self.prompt = prompt
        self.tools = tools
        self.names = [t["function"]["name"] for t in tools]
        self.choice = choice
        self.stop = stop
        self.text_grammar = text_grammar
        self.verbose = verbose
        parallel = request.extra.get("parallel_tool_calls", True)
        self.max_calls = _MAX_CALLS if parallel is not False else 1
        self.probe_tokens = 0

    def first_step(self) -> Optional[str]:
        if self.choice.mode == "required" and len(self.names) == 1:
            return self.names[0]
        name, used = _probe(self.llama, self.request, self.prompt, self.names,
                            allow_message=self.choice.mode == "auto")
        self.probe_tokens += used
        return name

    def next_step(self, arguments: str) -> Optional[str]:
        """After a call's ``arguments``: the next tool to call, or None to end the turn."""
        self.prompt += arguments
        name, used = _probe(self.llama, self.request, self.prompt, self.names, allow_message=False, allow_end=True)
        self.probe_tokens += used
        if name is not None:
            self.prompt += "\n"
        return name

    def arguments(self, name: str, stream: bool) -> Any:
        self.prompt += f"functions.{name}:\n"
        args_grammar = json_grammar(tool_parameters(self.tools, name), verbose=self.verbose)
        return self.request.complete(self.llama, self.prompt, stream=stream, stop=self.stop, grammar=args_grammar)

    def message(self, stream: bool) -> Any:
        return self.request.complete(
            self.llama, self.prompt + "message:\n", stream=stream, stop=self.stop, grammar=self.text_grammar
        )

    # ---- non-streaming
    def run(self) -> llama_types.CreateChatCompletionResponse:
        name = self.first_step()
        if name is None:
            return convert.chat_from_completion(self.message(stream=False), self.request.top_n)
        calls: List[ToolCall] = []
        first: Optional[Mapping[str, Any]] = None
        generated = 0
        finish = "tool_calls"
        while name is not None:
            completion = self.arguments(name, stream=False)
            first = first or completion
            text = completion["choices"][0]["text"]
            generated += completion["usage"]["completion_tokens"]
            if any(c.name == name and c.arguments.strip() == text.strip() for c in calls):
                break  # the model repeats itself: a call it already made ends the turn
            calls.append(ToolCall(name, text, tool_call_id(len(calls), name, first["id"])))
            if completion["choices"][0]["finish_reason"] == "length":
                finish = "length"
                break
            if len(calls) >= self.max_calls:
                break
            name = self.next_step(text)
        assert first is not None
        prompt_tokens = first["usage"]["prompt_tokens"]
        completion_tokens = generated + self.probe_tokens
        return {
            "id": "chat" + first["id"],
            "object": "chat.completion",
            "created": first["created"],
            "model": first["model"],
            "choices": [
                {"index": 0, "message": tool_calls_message(calls), "logprobs": None, "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    # ---- streaming
    def stream(self) -> Iterator[llama_types.CreateChatCompletionStreamResponse]:
        """The first call's arguments stream token by token; later calls are checked for
        repetition (as in ``run``) before they are sent, each as one delta."""
        name = self.first_step()
        if name is None:
            yield from convert.chat_chunks_from_completion_chunks(self.message(stream=True), self.request.top_n)
            return
        out: Optional[ChatStream] = None
        completion_id = ""
        made: List[Tuple[str, str]] = []
        finish = "tool_calls"
        while name is not None:
            index = len(made)
            text = ""
            started = False
            for chunk in self.arguments(name, stream=True):
                if out is None:
                    out = ChatStream.like(chunk)
                    completion_id = chunk["id"]
                    yield out.tool_role()
                choice = chunk["choices"][0]
                piece = choice["text"]
                text += piece
                if choice["finish_reason"] == "length":
                    finish = "length"
                if index == 0 and (piece or (not started and choice["finish_reason"] is not None)):
                    yield out.tool_delta(
                        0,
                        None if started else tool_call_id(0, name, completion_id),
                        None if started else name,
                        piece,
                        convert.chat_logprobs(choice.get("logprobs"), self.request.top_n),
                    )
                    started = True
            assert out is not None
            if index > 0:
                if (name, text.strip()) in made:
                    break
                yield out.tool_delta(index, tool_call_id(index, name, completion_id), name, text, legacy=False)
            made.append((name, text.strip()))
            if finish == "length" or len(made) >= self.max_calls:
                break
            name = self.next_step(text)
        if out is None:  # the completion produced no chunk at all
            out = ChatStream("cmpl-" + str(uuid.uuid4()), 0, self.request.model or "")
            yield out.tool_role()
        yield out.tool_finish(finish)
