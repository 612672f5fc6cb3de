"""Handlers for MeetKai's functionary models: ``functionary`` (the v1 text protocol, rendered
here) and ``functionary-v1`` / ``functionary-v2`` (rendered by the model's Hugging Face
tokenizer, ``Llama(tokenizer=LlamaHFTokenizer.from_pretrained(...))``).

As with ``chatml-function-calling``, the choice between a message and a call, and the
arguments of a call, are generated under grammars, so calls always name a known
tool and their arguments follow its JSON schema.
"""

from __future__ import annotations

import json
import random
import string
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from .. import llama_types
from . import convert
from .adapter import response_format_grammar, tool_parameters
from .convert import ChatStream, ToolCall, tool_calls_message
from .grammars import gbnf_choice, gbnf_literal, grammar_from_gbnf, json_grammar
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

__all__ = [
    "FUNCTIONARY_SYSTEM_MESSAGE",
    "functionary_chat_handler",
    "functionary_new_chat_handler",
    "functionary_v1_v2_chat_handler",
    "functions_namespace",
    "render_functionary_prompt",
]

FUNCTIONARY_SYSTEM_MESSAGE = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions. The assistant calls functions with appropriate "
    "input when necessary"
)

ChatResult = Union[
    llama_types.CreateChatCompletionResponse,
    Iterator[llama_types.CreateChatCompletionStreamResponse],
]


# ----------------------------------------------------------------- tool schemas as TypeScript
def _ts_type(schema: Any, indent: str = "") -> str:
    if not isinstance(schema, Mapping):
        return "any"
    if "enum" in schema and isinstance(schema["enum"], list):
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"]) or "any"
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_ts_type({**schema, "type": k}, indent) for k in kind) or "any"
    if kind == "array":
        inner = _ts_type(schema.get("items"), indent)
        return f"({inner})[]" if " | " in inner else f"{inner}[]"
    if kind == "object" and isinstance(schema.get("properties"), Mapping):
        return "{\n" + _ts_fields(schema, indent + "  ") + indent + "}"
    return {"integer": "number", "number": "number", "string": "string", "boolean": "boolean", "null": "null"}.get(
        kind if isinstance(kind, str) else "", "any"
    )


def _ts_fields(schema: Mapping[str, Any], indent: str) -> str:
    required = set(schema.get("required") or [])
    lines = []
    for name, prop in (schema.get("properties") or {}).items():
        description = prop.get("description") if isinstance(prop, Mapping) else None
        if isinstance(description, str) and description:
            lines.append(f"{indent}// {description}\n")
        optional = "" if name in required else "?"
        lines.append(f"{indent}{name}{optional}: {_ts_type(prop, indent)},\n")
    return "".join(lines)


def functions_namespace(functions: List[Mapping[str, Any]]) -> str:
    """The tool definitions as the TypeScript-like namespace functionary models were trained on."""
    parts = ["// Supported function definitions that should be called when necessary.\nnamespace functions {\n\n"]
    for function in functions:
        description = function.get("description")
        if isinstance(description, str) and description:
            parts.append(f"// {description}\n")
        parameters = function.get("parameters") or {}
        if parameters.get("properties"):
            parts.append(f"type {function['name']} = (_: {{\n{_ts_fields(parameters, '')}}}) => any;\n\n")
        else:
            parts.append(f"type {function['name']} = () => any;\n\n")
    parts.append("} // namespace functions")
    return "".join(parts)


def _text(content: Any) -> str:
    content = flatten_text_parts(content)
    return content if isinstance(content, str) else ""


def _arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments or {}, ensure_ascii=False)


def _calls_of(message: Mapping[str, Any]) -> List[Tuple[Optional[str], str, str]]:
    """``(id, name, arguments)`` of the calls an assistant message made."""
    calls = []
    for call in message.get("tool_calls") or []:
        function = call["function"]
        calls.append((call.get("id"), function["name"], _arguments(function.get("arguments"))))
    if not calls and message.get("function_call"):
        function = message["function_call"]
        calls.append((None, function["name"], _arguments(function.get("arguments"))))
    return calls


# ----------------------------------------------------------------- "functionary" (v1 text protocol)
def render_functionary_prompt(
    messages: List[Mapping[str, Any]],
    functions: Optional[List[Mapping[str, Any]]] = None,
) -> str:
    """The functionary v1 text prompt, ending with ``assistant`` (the model continues with
    ``:\\n<message>`` or `` to=functions.<name>:\\n<arguments>``)."""
    parts: List[str] = []
    if functions:
        parts.append(f"system:\n{functions_namespace(functions)}\n")
    parts.append(f"system:\n{FUNCTIONARY_SYSTEM_MESSAGE}\n")
    names_by_id: Dict[str, str] = {}
    for message in messages:
        role = message["role"]
        if role in ("system", "developer"):
            parts.append(f"system:\n{_text(message.get('content'))}\n")
        elif role == "user":
            parts.append(f"user:\n</s>{_text(message.get('content'))}</s>\n")
        elif role == "assistant":
            content = _text(message.get("content"))
            calls = _calls_of(message)
            if content or not calls:
                parts.append(f"assistant:\n{content}\n")
            for call_id, name, arguments in calls:
                if call_id:
                    names_by_id[call_id] = name
                parts.append(f"assistant to=functions.{name}:\n{arguments}</s>\n")
        elif role in ("tool", "function"):
            name = message.get("name") or names_by_id.get(message.get("tool_call_id") or "", "")
            name = name or message.get("tool_call_id") or "unknown"
            parts.append(f"function name=functions.{name}:\n{_text(message.get('content'))}\n")
    parts.append("assistant")
    return "".join(parts)


def _collect(request: ChatRequest) -> Tuple[ChatRequest, Optional[List[Any]], ToolChoice]:
    validate_messages(request.messages)
    validate_tools(request.tools, request.functions)
    tools, tool_choice = merge_legacy_functions(
        request.functions, request.function_call, request.tools, request.tool_choice
    )
    return request, tools, resolve_tool_choice(tool_choice, tools, default="auto")


def _pick(
    llama: ChatModel,
    request: ChatRequest,
    prompt: str,
    grammar_text: str,
    max_tokens: int,
    add_bos: bool = True,
) -> str:
    """A short greedy completion constrained to ``grammar_text`` (a routing decision)."""
    completion = request.complete(
        llama, prompt, stream=False, stop=[], grammar=grammar_from_gbnf(grammar_text), logprobs=False,
        temperature=0.0, max_tokens=max_tokens, add_bos=add_bos,
    )
    return completion["choices"][0]["text"]  # type: ignore[index]


@register_chat_completion_handler("functionary")
@request_handler
def functionary_chat_handler(llama: ChatModel, request: ChatRequest) -> ChatResult:
    """functionary v1 text protocol; one call per turn, ``tool_calls[0].id`` is the function name."""
    messages, stream, response_format, grammar = (
        request.messages, request.stream, request.response_format, request.grammar)
    request, merged_tools, choice = _collect(request)
    verbose = bool(getattr(llama, "verbose", False))
    functions_list = [t["function"] for t in merged_tools or []]
    prompt = render_functionary_prompt(messages, functions_list)  # type: ignore[arg-type]
    stop_list = request.stop_list(["user:", "</s>"])
    text_grammar = response_format_grammar(response_format, verbose) or grammar

    name: Optional[str] = choice.name
    if choice.mode in ("auto", "required"):
        names = [f["name"] for f in functions_list]
        options = f'" to=functions." ({gbnf_choice(names)}) ":"'
        root = options if choice.mode == "required" else f'":" | {options}'
        picked = _pick(llama, request, prompt, f"root ::= {root}\n", 16 + max(len(n) for n in names))
        name = picked[len(" to=functions."):-1] if picked.startswith(" to=functions.") else None

    if name is None:
        completion = request.complete(llama, prompt + ":\n", stream=stream, stop=stop_list, grammar=text_grammar)
        if stream:
            return convert.chat_chunks_from_completion_chunks(completion, request.top_n)  # type: ignore[arg-type]
        return convert.chat_from_completion(completion, request.top_n)  # type: ignore[arg-type]

    assert merged_tools is not None
    args_grammar = json_grammar(tool_parameters(merged_tools, name), verbose=verbose)
    completion = request.complete(
        llama, prompt + f" to=functions.{name}:\n", stream=stream, stop=stop_list, grammar=args_grammar
    )
    if stream:
        return convert.tool_call_chunks_from_completion_chunks(completion, name, request.top_n, call_id=name)  # type: ignore[arg-type]
    return convert.tool_call_chat(completion, name, request.top_n, call_id=name)  # type: ignore[arg-type]


# ----------------------------------------------------------------- functionary-v1 / -v2 (HF tokenizer)
_V1_CALL = "<|START_OF_FUNCTION_CALL|>"
_V1_END_CALL = "<|END_OF_FUNCTION_CALL|>"
_V1_END_ASSISTANT = "<|END_OF_ASSISTANT|>"
_V2_FROM, _V2_RECIPIENT, _V2_CONTENT, _V2_STOP = "<|from|>", "<|recipient|>", "<|content|>", "<|stop|>"
_V2_NEXT = f"\n{_V2_FROM}assistant\n{_V2_RECIPIENT}"
_MAX_SEGMENTS = 8


def _random_call_id() -> str:
    return "call_" + "".join(random.choices(string.ascii_letters + string.digits, k=24))


def _functionary_messages(
    messages: List[Mapping[str, Any]],
    tools: Optional[List[Mapping[str, Any]]],
) -> List[Dict[str, Any]]:
    """Messages for the functionary tokenizer template: tool definitions and the functionary
    system prompt first, tool results named after their function."""
    out: List[Dict[str, Any]] = []
    functions = [t["function"] for t in tools or []]
    out.append({"role": "system", "content": functions_namespace(functions)})
    out.append({"role": "system", "content": FUNCTIONARY_SYSTEM_MESSAGE})
    names_by_id: Dict[str, str] = {}
    for message in messages:
        copy: Dict[str, Any] = dict(message)
        copy["content"] = flatten_text_parts(copy.get("content"))
        if copy["role"] == "developer":
            copy["role"] = "system"
        if copy["role"] == "assistant":
            calls = _calls_of(message)
            for call_id, name, _ in calls:
                if call_id:
                    names_by_id[call_id] = name
            if calls:
                copy["tool_calls"] = [
                    {"id": cid or name, "type": "function", "function": {"name": name, "arguments": args}}
                    for cid, name, args in calls
                ]
                copy.pop("function_call", None)
        elif copy["role"] in ("tool", "function"):
            copy["role"] = "tool"
            copy["name"] = message.get("name") or names_by_id.get(message.get("tool_call_id") or "", "") or "unknown"
        out.append(copy)
    return out


class _FunctionaryTurn:
    """Generates one assistant turn as a sequence of events:
    ``("text", piece)``, ``("call", name, call_id)``, ``("args", piece)``, ``("finish", reason)``."""

    def __init__(
        self,
        llama: ChatModel,
        request: ChatRequest,
        prompt: str,
        tools: List[Mapping[str, Any]],
        choice: ToolChoice,
        version: str,
        text_grammar: Optional[LlamaGrammar],
        verbose: bool,
    ) -> None:
        self.llama, self.request, self.prompt = llama, request, prompt
        self.tools, self.choice, self.version = tools, choice, version
        self.names = [t["function"]["name"] for t in tools]
        self.text_grammar, self.verbose = text_grammar, verbose
        self.completion_tokens = 0
        self.meta: Optional[Mapping[str, Any]] = None
        limit = request.max_tokens
        self.budget: Optional[int] = limit if limit is not None and limit > 0 else None

    def exhausted(self) -> bool:
        return self.budget is not None and self.completion_tokens >= self.budget

    def _run(self, prompt: str, stop: List[str], grammar: Optional[LlamaGrammar], stream: bool) -> Iterator[Tuple[str, Optional[str]]]:
        """``(piece, finish_reason)`` pairs of one completion; ``max_tokens`` bounds the whole turn."""
        overrides: Dict[str, Any] = {}
        if self.budget is not None:
            overrides["max_tokens"] = max(self.budget - self.completion_tokens, 1)
        result: Any = self.request.complete(
            self.llama, prompt, stream=stream, stop=stop, grammar=grammar, add_bos=False, **overrides
        )
        if not stream:
            self.meta = self.meta or result  # type: ignore[assignment]
            self.completion_tokens += result["usage"]["completion_tokens"]  # type: ignore[index]
            choice = result["choices"][0]  # type: ignore[index]
            yield choice["text"], choice["finish_reason"]
            return
        text = ""
        for chunk in result:  # type: ignore[union-attr]
            self.meta = self.meta or chunk
            choice = chunk["choices"][0]
            text += choice["text"]
            if choice["finish_reason"] is not None:
                self.completion_tokens += max(len(self.llama.tokenize(text.encode("utf-8"), add_bos=False)), 1)
            if choice["text"] or choice["finish_reason"] is not None:
                yield choice["text"], choice["finish_reason"]

    def events(self, stream: bool) -> Iterator[Tuple[Any, ...]]:
        if self.version == "v1":
            yield from self._v1(stream)
        else:
            yield from self._v2(stream)

    def _args_grammar(self, name: str) -> LlamaGrammar:
        return json_grammar(tool_parameters(self.tools, name), verbose=self.verbose)

    def _v1(self, stream: bool) -> Iterator[Tuple[Any, ...]]:
        prompt = self.prompt + "assistant:\n"
        name = self.choice.name
        if self.choice.mode in ("auto", "required") and self.names:
            call = f"{gbnf_literal(_V1_CALL)} (\"functions.\")? ({gbnf_choice(self.names)}) \":\""
            root = call if self.choice.mode == "required" else f"{call} | [^<]"
            picked = _pick(self.llama, self.request, prompt, f"root ::= {root}\n",
                           24 + max(len(n) for n in self.names), add_bos=False)
            stripped = picked.replace(_V1_CALL, "").replace("functions.", "").rstrip(":")
            name = stripped if picked.endswith(":") and stripped in self.names else None
        if name is None:
            for piece, finish in self._run(prompt, self.request.stop_list([_V1_END_ASSISTANT, "user:"]), self.text_grammar, stream):
                if piece:
                    yield ("text", piece)
                if finish is not None:
                    yield ("finish", finish)
            return
        yield ("call", name, _random_call_id())
        prompt += f"{_V1_CALL}{name}:\n"
        for piece, finish in self._run(prompt, self.request.stop_list([_V1_END_CALL]), self._args_grammar(name), stream):
            if piece:
                yield ("args", piece)
            if finish is not None:
                yield ("finish", "length" if finish == "length" else "tool_calls")

    def _v2(self, stream: bool) -> Iterator[Tuple[Any, ...]]:
        prompt = self.prompt + f"{_V2_FROM}assistant\n{_V2_RECIPIENT}"
        called = False
        made: List[Tuple[str, str]] = []
        for segment in range(_MAX_SEGMENTS):
            if self.choice.mode == "named" and not called:
                recipient = self.choice.name
            elif self.choice.mode == "none" or not self.names:
                recipient = "all"
            else:
                options = self.names if (self.choice.mode == "required" and not called) else ["all", *self.names]
                recipient = _pick(self.llama, self.request, prompt, f"root ::= {gbnf_choice(options)}\n",
                                  8 + max(len(o) for o in options), add_bos=False)
            prompt += f"{recipient}\n{_V2_CONTENT}"
            stop = self.request.stop_list([_V2_STOP, _V2_FROM])
            text = ""
            finish: Optional[str] = None
            if recipient == "all":
                kind, grammar = "text", self.text_grammar
            else:
                called = True
                kind, grammar = "args", self._args_grammar(str(recipient))
                yield ("call", recipient, _random_call_id())
            for piece, reason in self._run(prompt, stop, grammar, stream):
                finish = reason or finish
                if piece:
                    text += piece
                    yield (kind, piece)
            if finish == "length" or self.exhausted() or segment == _MAX_SEGMENTS - 1:
                yield ("finish", "length" if finish == "length" else ("tool_calls" if called else "stop"))
                return
            if self.choice.mode == "named" or (self.choice.mode == "none"):
                break
            if recipient != "all":
                if (str(recipient), text.strip()) in made:
                    break  # the model repeats a call: end the turn
                made.append((str(recipient), text.strip()))
            prompt += text
            follow = f"root ::= ({gbnf_literal(_V2_STOP)} | {gbnf_literal(_V2_NEXT)})?\n"
            more = _pick(self.llama, self.request, prompt, follow, 16, add_bos=False)
            if "assistant" not in more:
                break
            prompt += _V2_NEXT
        yield ("finish", "tool_calls" if called else "stop")


def _turn_response(turn: _FunctionaryTurn) -> llama_types.CreateChatCompletionResponse:
    content = ""
    calls: List[ToolCall] = []
    finish = "stop"
    for event in turn.events(stream=False):
        if event[0] == "text":
            content += event[1]
        elif event[0] == "call":
            calls.append(ToolCall(event[1], "", event[2]))
        elif event[0] == "args":
            calls[-1].arguments += event[1]
        else:
            finish = event[1]
    meta = turn.meta or {"id": "cmpl-functionary", "created": 0, "model": turn.request.model or ""}
    prompt_tokens = len(turn.llama.tokenize(turn.prompt.encode("utf-8"), add_bos=False, special=True))
    message: Any = tool_calls_message(calls, content or None) if calls else {"role": "assistant", "content": content}
    return {
        "id": "chat" + meta["id"],
        "object": "chat.completion",
        "created": meta["created"],
        "model": meta["model"],
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": turn.completion_tokens,
            "total_tokens": prompt_tokens + turn.completion_tokens,
        },
    }


def _turn_stream(turn: _FunctionaryTurn) -> Iterator[llama_types.CreateChatCompletionStreamResponse]:
    out: Optional[ChatStream] = None
    index = -1
    fresh_call: Optional[Tuple[str, str]] = None
    for event in turn.events(stream=True):
        if out is None:
            meta = turn.meta or {"id": "cmpl-functionary", "created": 0, "model": turn.request.model or ""}
            out = ChatStream(meta["id"], meta["created"], meta["model"])
            yield out.role()
        kind = event[0]
        if kind == "text":
            yield out.chunk({"content": event[1]})
        elif kind == "call":
            index += 1
            fresh_call = (event[1], event[2])
        elif kind == "args":
            if fresh_call is not None:
                yield out.tool_delta(index, fresh_call[1], fresh_call[0], event[1], legacy=False)
                fresh_call = None
            else:
                yield out.tool_delta(index, None, None, event[1], legacy=False)
        else:
            if fresh_call is not None:  # a call whose arguments were empty
                yield out.tool_delta(index, fresh_call[1], fresh_call[0], "", legacy=False)
            yield out.chunk({}, event[1])


@register_chat_completion_handler("functionary-v1")
@register_chat_completion_handler("functionary-v2")
@request_handler
def functionary_v1_v2_chat_handler(llama: ChatModel, request: ChatRequest) -> ChatResult:
    """functionary v1/v2 models; the prompt comes from ``llama.tokenizer_.hf_tokenizer``.

    v2 answers may mix text and several (parallel) calls; ids are ``call_`` + 24 random characters.
    """
    messages, stream, response_format, grammar = (
        request.messages, request.stream, request.response_format, request.grammar)
    tokenizer = getattr(getattr(llama, "tokenizer_", None), "hf_tokenizer", None)
    if tokenizer is None:
        raise ValueError(
            "functionary-v1/functionary-v2 render prompts with the model's Hugging Face tokenizer: create the model "
            "with Llama(..., tokenizer=llama_cpp.llama_tokenizer.LlamaHFTokenizer.from_pretrained('meetkai/<model>'))"
        )
    request, merged_tools, choice = _collect(request)
    special = list(getattr(tokenizer, "additional_special_tokens", None) or [])
    version = "v1" if _V1_CALL in special else "v2"
    prepared = _functionary_messages(messages, merged_tools)  # type: ignore[arg-type]
    prompt = tokenizer.apply_chat_template(prepared, tokenize=False)
    if not isinstance(prompt, str):
        raise ValueError(f"the tokenizer's apply_chat_template returned {type(prompt).__name__}, not the prompt text")
    verbose = bool(getattr(llama, "verbose", False))
    text_grammar = response_format_grammar(response_format, verbose) or grammar
    turn = _FunctionaryTurn(llama, request, prompt, merged_tools or [], choice, version, text_grammar, verbose)
    return _turn_stream(turn) if stream else _turn_response(turn)


functionary_new_chat_handler = functionary_v1_v2_chat_handler
