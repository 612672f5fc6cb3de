"""Checks on what callers send (messages, tools, tool_choice, response_format).

Every problem is a ``ValueError`` whose message says which item is wrong
and what to send instead. Nothing here mutates the caller's objects.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .. import llama_types

__all__ = [
    "KNOWN_ROLES",
    "ToolChoice",
    "flatten_text_parts",
    "merge_legacy_functions",
    "prepare_messages",
    "resolve_tool_choice",
    "response_format_schema",
    "validate_messages",
    "validate_tools",
]

KNOWN_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_ROLE_HINT = "use one of " + ", ".join(repr(r) for r in KNOWN_ROLES)


def _fail(where: str, problem: str) -> ValueError:
    return ValueError(f"{where} {problem}")


def _check_text_parts(where: str, parts: Sequence[Any], allow_images: bool) -> None:
    for j, part in enumerate(parts):
        here = f"{where}.content[{j}]"
        if not isinstance(part, Mapping):
            raise _fail(here, f"must be a content part dict like {{'type': 'text', 'text': '...'}}, got {type(part).__name__}")
        kind = part.get("type")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise _fail(here, "is a 'text' part without a string 'text'")
        elif kind == "image_url" and allow_images:
            url = part.get("image_url")
            if isinstance(url, Mapping):
                url = url.get("url")
            if not isinstance(url, str):
                raise _fail(here, "is an 'image_url' part without a string URL; use {'type': 'image_url', 'image_url': {'url': '...'}}")
        elif kind == "image_url":
            raise _fail(here, "is an image, which only user messages may contain")
        else:
            allowed = "'text' or 'image_url'" if allow_images else "'text'"
            raise _fail(here, f"has unsupported type {kind!r}; use {allowed}")


def _check_content(where: str, role: str, content: Any) -> None:
    if content is None or isinstance(content, str):
        return
    if isinstance(content, (list, tuple)):
        _check_text_parts(where, content, allow_images=(role == "user"))
        return
    kinds = "a string or a list of content parts" if role == "user" else "a string (or a list of text parts)"
    raise _fail(where, f"({role}) has content of type {type(content).__name__}; content must be {kinds}")


def _check_tool_calls(where: str, tool_calls: Any) -> None:
    if not isinstance(tool_calls, (list, tuple)):
        raise _fail(where, "has 'tool_calls' that is not a list")
    for j, call in enumerate(tool_calls):
        here = f"{where}.tool_calls[{j}]"
        if not isinstance(call, Mapping):
            raise _fail(here, "must be a dict {'id': ..., 'type': 'function', 'function': {'name': ..., 'arguments': ...}}")
        function = call.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise _fail(here, "needs a 'function' dict with a string 'name'")
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, (str, Mapping)):
            raise _fail(here, "has 'arguments' that are neither a JSON string nor a dict")


def validate_messages(messages: Any) -> None:
    """Raise ``ValueError`` unless ``messages`` is a non-empty list of well-formed chat messages."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ValueError(
            f"messages must be a list of dicts like {{'role': 'user', 'content': 'Hi'}}, got {type(messages).__name__}"
        )
    if len(messages) == 0:
        raise ValueError("messages is empty; pass at least one message, e.g. [{'role': 'user', 'content': 'Hi'}]")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, Mapping):
            raise _fail(where, f"must be a dict with 'role' and 'content', got {type(message).__name__}")
        if "role" not in message:
            raise _fail(where, f"has no 'role'; {_ROLE_HINT}")
        role = message["role"]
        if role not in KNOWN_ROLES:
            raise _fail(where, f"has unknown role {role!r}; {_ROLE_HINT}")
        _check_content(where, role, message.get("content"))
        if role == "assistant":
            if message.get("tool_calls") is not None:
                _check_tool_calls(where, message["tool_calls"])
            function_call = message.get("function_call")
            if function_call is not None and (
                not isinstance(function_call, Mapping) or not isinstance(function_call.get("name"), str)
            ):
                raise _fail(where, "has a 'function_call' without a string 'name'")
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id is not None and not isinstance(call_id, str):
                raise _fail(where, "has a non-string 'tool_call_id'")
        elif role == "function":
            if not isinstance(message.get("name"), str):
                raise _fail(where, "(function result) needs the string 'name' of the function it answers")


def flatten_text_parts(content: Any) -> Any:
    """Join a list made only of text parts into one string; other content is returned as is."""
    if isinstance(content, (list, tuple)) and all(
        isinstance(p, Mapping) and p.get("type") == "text" for p in content
    ):
        return "\n".join(p["text"] for p in content)
    return content


def prepare_messages(messages: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Shallow copies of ``messages`` ready for a prompt format.

    Text-only content lists are joined into strings, and OpenAI's newer
    ``developer`` role is given as ``system`` (what chat templates know).
    """
    prepared = []
    for message in messages:
        copy = dict(message)
        if copy.get("role") == "developer":
            copy["role"] = "system"
        if "content" in copy:
            copy["content"] = flatten_text_parts(copy["content"])
        prepared.append(copy)
    return prepared


def _check_function(where: str, function: Any) -> str:
    if not isinstance(function, Mapping):
        raise _fail(where, "must be a dict {'name': ..., 'description': ..., 'parameters': {JSON schema}}")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(where, "needs a non-empty string 'name'")
    if any(c.isspace() for c in name):
        raise _fail(where, f"has name {name!r} with whitespace; use letters, digits, '_' or '-'")
    parameters = function.get("parameters")
    if not isinstance(parameters, Mapping):
        raise _fail(
            where,
            f"({name!r}) has no JSON schema in 'parameters'; give one, e.g. "
            "{'type': 'object', 'properties': {}} for a function without arguments",
        )
    return name


def validate_tools(
    tools: Optional[Sequence[Any]],
    functions: Optional[Sequence[Any]] = None,
) -> None:
    """Raise ``ValueError`` unless ``tools`` / legacy ``functions`` are well-formed definitions."""
    if tools is not None:
        if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
            raise ValueError("tools must be a list of {'type': 'function', 'function': {...}} dicts")
        seen = set()
        for i, tool in enumerate(tools):
            where = f"tools[{i}]"
            if not isinstance(tool, Mapping):
                raise _fail(where, "must be a dict {'type': 'function', 'function': {...}}")
            if tool.get("type") != "function":
                raise _fail(where, f"has type {tool.get('type')!r}; only 'function' tools are supported")
            name = _check_function(f"{where}.function", tool.get("function"))
            if name in seen:
                raise _fail(where, f"repeats the tool name {name!r}; tool names must be unique")
            seen.add(name)
    if functions is not None:
        if isinstance(functions, (str, bytes, Mapping)) or not isinstance(functions, Sequence):
            raise ValueError("functions must be a list of {'name': ..., 'parameters': {...}} dicts")
        for i, function in enumerate(functions):
            _check_function(f"functions[{i}]", function)


def merge_legacy_functions(
    functions: Optional[List[llama_types.ChatCompletionFunction]],
    function_call: Optional[llama_types.ChatCompletionRequestFunctionCall],
    tools: Optional[List[llama_types.ChatCompletionTool]],
    tool_choice: Optional[llama_types.ChatCompletionToolChoiceOption],
) -> tuple[Optional[List[llama_types.ChatCompletionTool]], Optional[llama_types.ChatCompletionToolChoiceOption]]:
    """Express the legacy ``functions`` / ``function_call`` arguments as ``tools`` / ``tool_choice``."""
    if functions is not None and tools is None:
        tools = [{"type": "function", "function": f} for f in functions]  # type: ignore[misc]
    if function_call is not None and tool_choice is None:
        if function_call in ("none", "auto"):
            tool_choice = function_call  # type: ignore[assignment]
        elif isinstance(function_call, Mapping) and isinstance(function_call.get("name"), str):
            tool_choice = {"type": "function", "function": {"name": function_call["name"]}}
        else:
            raise ValueError(
                f"function_call must be 'none', 'auto' or {{'name': <function name>}}, got {function_call!r}"
            )
    return tools, tool_choice


@dataclasses.dataclass(frozen=True)
class ToolChoice:
    """A validated ``tool_choice``: ``mode`` is 'none', 'auto', 'required' or 'named' (then ``name`` is set)."""

    mode: str
    name: Optional[str] = None

    @property
    def calls_tools(self) -> bool:
        return self.mode in ("auto", "required", "named")


def _tool_names(tools: Optional[Sequence[Mapping[str, Any]]]) -> List[str]:
    return [t["function"]["name"] for t in tools or []]


def resolve_tool_choice(
    tool_choice: Any,
    tools: Optional[Sequence[Mapping[str, Any]]],
    default: str = "none",
    not_found: str = "Tool choice '{name}' not found in tools.",
) -> ToolChoice:
    """Validate ``tool_choice`` against ``tools``.

    ``default`` is the mode used when ``tool_choice`` is None and tools exist.
    Without tools everything except a named choice means 'none'.
    """
    names = _tool_names(tools)
    if tool_choice is None:
        return ToolChoice(default if names else "none")
    if isinstance(tool_choice, str):
        if tool_choice not in ("none", "auto", "required"):
            raise ValueError(
                f"tool_choice must be 'none', 'auto', 'required' or "
                f"{{'type': 'function', 'function': {{'name': ...}}}}, got {tool_choice!r}"
            )
        if tool_choice == "required" and not names:
            raise ValueError("tool_choice='required' needs at least one tool in tools")
        return ToolChoice(tool_choice if names else "none")
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str):
            raise ValueError(
                f"tool_choice must name a function as {{'type': 'function', 'function': {{'name': ...}}}}, "
                f"got {dict(tool_choice)!r}"
            )
        if name not in names:
            if not names:
                raise ValueError(f"tool_choice names {name!r} but no tools were given; pass its definition in tools")
            raise ValueError(not_found.format(name=name))
        return ToolChoice("named", name)
    raise ValueError(f"tool_choice must be a string or a dict, got {type(tool_choice).__name__}")


def response_format_schema(response_format: Any) -> tuple[bool, Optional[Any]]:
    """``(json_wanted, schema)`` for a ``response_format`` request field.

    Accepts ``{"type": "text"}``, ``{"type": "json_object"}`` with an optional
    ``schema``, and OpenAI's ``{"type": "json_schema", "json_schema": {"schema": ...}}``.
    """
    if response_format is None:
        return False, None
    if not isinstance(response_format, Mapping):
        raise ValueError(f"response_format must be a dict like {{'type': 'json_object'}}, got {response_format!r}")
    kind = response_format.get("type")
    if kind == "text":
        return False, None
    if kind == "json_object":
        return True, response_format.get("schema")
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if isinstance(spec, Mapping) and "schema" in spec:
            return True, spec["schema"]
        if "schema" in response_format:
            return True, response_format["schema"]
        raise ValueError(
            "response_format type 'json_schema' needs the schema as "
            "{'type': 'json_schema', 'json_schema': {'name': ..., 'schema': {...}}}"
        )
    raise ValueError(f"response_format type must be 'text', 'json_object' or 'json_schema', got {kind!r}")
