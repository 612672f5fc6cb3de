"""Recognise tool calls that a model writes in its own syntax (used with "auto" tool choice).

Chat templates that advertise tools teach the model a calling syntax. The
common ones are recognised:

* ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (Hermes, Qwen 2.5+, SmolLM3, ...), any number;
* a reply that is only a JSON object ``{"name": ..., "arguments"|"parameters": {...}}`` or a
  list of them, optionally after ``<|python_tag|>`` or ``[TOOL_CALLS]`` (Llama 3.x, Mistral).

Only names of the request's tools count; anything else stays message content.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from .. import llama_types
from .convert import ChatStream, ToolCall, tool_call_id, tool_calls_message

__all__ = [
    "envelope_response",
    "extract_tool_calls",
    "response_with_tool_calls",
    "stream_with_tool_calls",
]

_TAG_OPEN = "<tool_call>"
_TAG_CLOSE = "</tool_call>"
_PREFIXES = ("<|python_tag|>", "[TOOL_CALLS]")
_TAGGED = re.compile(re.escape(_TAG_OPEN) + r"(.*?)(?:" + re.escape(_TAG_CLOSE) + r"|\Z)", re.DOTALL)

Parsed = Tuple[Optional[str], List[Tuple[str, str]]]


def _call_from(obj: Any, names: Sequence[str]) -> Optional[Tuple[str, str]]:
    if not isinstance(obj, Mapping):
        return None
    if isinstance(obj.get("function"), Mapping):  # {"type": "function", "function": {...}}
        obj = obj["function"]
    name = obj.get("name")
    if name not in names:
        return None
    arguments = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, Mapping):
        return None
    return name, json.dumps(arguments, ensure_ascii=False)


def _json_calls(text: str, names: Sequence[str]) -> Optional[List[Tuple[str, str]]]:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    items = value if isinstance(value, list) else [value]
    calls = [_call_from(item, names) for item in items]
    if not calls or any(c is None for c in calls):
        return None
    return [c for c in calls if c is not None]


def extract_tool_calls(text: str, names: Sequence[str]) -> Optional[Parsed]:
    """``(content, [(name, arguments_json), ...])`` when ``text`` holds tool calls, else None."""
    if _TAG_OPEN in text:
        calls: List[Tuple[str, str]] = []
        for match in _TAGGED.finditer(text):
            found = _json_calls(match.group(1).strip(), names)
            if found is None:
                return None
            calls.extend(found)
        content = _TAGGED.sub("", text).strip()
        return (content or None), calls
    stripped = text.strip()
    for prefix in _PREFIXES:
        if stripped.startswith(prefix):
            stripped = stripped[len(prefix):].strip()
    if stripped[:1] in ("{", "["):
        found = _json_calls(stripped, names)
        if found:
            return None, found
    return None


def _with_calls(
    response: llama_types.CreateChatCompletionResponse,
    content: Optional[str],
    calls: List[Tuple[str, str]],
) -> llama_types.CreateChatCompletionResponse:
    completion_id = response["id"][len("chat"):]
    tool_calls = [ToolCall(name, args, tool_call_id(i, name, completion_id)) for i, (name, args) in enumerate(calls)]
    choice = dict(response["choices"][0])
    choice["message"] = tool_calls_message(tool_calls, content)
    if choice.get("finish_reason") != "length":
        choice["finish_reason"] = "tool_calls"
    out = dict(response)
    out["choices"] = [choice]
    return out  # type: ignore[return-value]


def response_with_tool_calls(
    response: llama_types.CreateChatCompletionResponse,
    names: Sequence[str],
) -> llama_types.CreateChatCompletionResponse:
    """``response`` with tool calls written in its text turned into ``tool_calls``."""
    text = response["choices"][0]["message"].get("content") or ""
    parsed = extract_tool_calls(text, names)
    if parsed is None or not parsed[1]:
        return response
    return _with_calls(response, parsed[0], parsed[1])


def envelope_response(
    completion: Mapping[str, Any],
    stream: bool,
    top_n: Optional[int],
) -> Any:
    """A completion constrained to ``{"name": ..., "arguments": ...}`` as a tool-call response."""
    from .convert import chat_from_completion

    response = chat_from_completion(completion, top_n)
    text = completion["choices"][0]["text"]
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    call = _call_from(value, [str(value.get("name"))] if isinstance(value, Mapping) else [])
    if call is not None:
        response = _with_calls(response, None, [call])
    if not stream:
        return response
    return _replay(response)


def _replay(response: llama_types.CreateChatCompletionResponse) -> Iterator[llama_types.CreateChatCompletionStreamResponse]:
    """Stream an already finished response as chunks."""
    stream = ChatStream(response["id"][len("chat"):], response["created"], response["model"])
    choice = response["choices"][0]
    message = choice["message"]
    calls = message.get("tool_calls")
    if calls:
        yield stream.tool_role()
        if message.get("content"):
            yield stream.chunk({"content": message["content"]})
        for index, call in enumerate(calls):
            yield stream.tool_delta(index, call["id"], call["function"]["name"], call["function"]["arguments"],
                                    legacy=len(calls) == 1)
        yield stream.tool_finish(choice["finish_reason"] or "tool_calls")
        return
    yield stream.role()
    if message.get("content"):
        yield stream.chunk({"content": message["content"]}, logprobs=choice.get("logprobs"))
    yield stream.chunk({}, choice["finish_reason"])


def _undecided(text: str) -> Optional[bool]:
    """At the start of a reply: True = a tool call begins, False = plain content, None = too early to say."""
    stripped = text.lstrip()
    if not stripped:
        return None
    if stripped[0] in "{[":
        return True
    for marker in (_TAG_OPEN, *_PREFIXES):
        if stripped.startswith(marker):
            return True
        if marker.startswith(stripped):
            return None
    return False


def _holdback(text: str) -> int:
    """Length of the tail of ``text`` that may be the start of ``<tool_call>``."""
    for size in range(min(len(text), len(_TAG_OPEN) - 1), 0, -1):
        if _TAG_OPEN.startswith(text[-size:]):
            return size
    return 0


def stream_with_tool_calls(
    chunks: Iterable[llama_types.CreateChatCompletionStreamResponse],
    names: Sequence[str],
) -> Iterator[llama_types.CreateChatCompletionStreamResponse]:
    """Pass content chunks through, but collect and convert a tool call the model starts writing.

    Text that may be the beginning of a call is held back until it is clear;
    once a call has started, the rest of the reply is gathered and emitted as
    tool-call deltas when the completion ends.
    """
    stream: Optional[ChatStream] = None
    pending = ""              # content not sent yet
    mode: Optional[str] = None  # None (start of reply), "content" or "capture"
    finish: Optional[str] = None
    for chunk in chunks:
        if stream is None:
            stream = ChatStream(chunk["id"][len("chat"):], chunk["created"], chunk["model"])
            yield chunk  # the role delta
            continue
        choice = chunk["choices"][0]
        text = str(choice["delta"].get("content") or "")
        pending += text
        if choice.get("finish_reason") is not None:
            finish = choice["finish_reason"]
            break
        if mode is None:
            decided = _undecided(pending)
            if decided is None:
                continue
            mode = "capture" if decided else "content"
        if mode == "capture":
            continue
        if _TAG_OPEN in pending:
            before, _, after = pending.partition(_TAG_OPEN)
            if before:
                yield stream.chunk({"content": before})
            pending, mode = _TAG_OPEN + after, "capture"
            continue
        keep = _holdback(pending)
        if keep == 0 and pending == text:
            yield chunk  # unchanged, logprobs included
        elif len(pending) > keep:
            yield stream.chunk({"content": pending[: len(pending) - keep]})
        pending = pending[len(pending) - keep:]
    if stream is None:
        return
    maybe_call = _TAG_OPEN in pending or (mode != "content" and bool(pending.strip()))
    parsed = extract_tool_calls(pending, names) if maybe_call else None
    if parsed is None or not parsed[1]:
        if pending:
            yield stream.chunk({"content": pending})
        yield stream.chunk({}, finish)
        return
    content, calls = parsed
    if content:
        yield stream.chunk({"content": content})
    completion_id = stream.id[len("chat"):]
    for index, (name, arguments) in enumerate(calls):
        yield stream.tool_delta(index, tool_call_id(index, name, completion_id), name, arguments, legacy=len(calls) == 1)
    yield stream.tool_finish("length" if finish == "length" else "tool_calls")
