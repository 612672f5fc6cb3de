"""Completion dicts/chunks -> chat completion dicts/chunks (the shapes of ``llama_types``)."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional

from .. import llama_types

__all__ = [
    "ChatStream",
    "ToolCall",
    "chat_chunks_from_completion_chunks",
    "chat_from_completion",
    "chat_logprobs",
    "tool_call_chat",
    "tool_call_chunks_from_completion_chunks",
    "tool_call_id",
]


def chat_logprobs(
    logprobs: Optional[Mapping[str, Any]],
    top_n: Optional[int] = None,
) -> Optional[llama_types.ChatCompletionLogprobs]:
    """Completion ``logprobs`` -> chat ``logprobs``; ``top_n`` alternatives per token (all when None)."""
    if not logprobs:
        return None
    content: List[llama_types.ChatCompletionLogprobToken] = []
    for token, logprob, top in zip(logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"]):
        if logprob is None:
            continue
        alternatives = sorted((top or {}).items(), key=lambda item: item[1], reverse=True)
        if top_n is not None:
            alternatives = alternatives[: max(top_n, 0)]
        content.append(
            {
                "token": token,
                "logprob": float(logprob),
                "bytes": None,
                "top_logprobs": [{"token": t, "logprob": float(lp), "bytes": None} for t, lp in alternatives],
            }
        )
    return {"content": content, "refusal": None}


def tool_call_id(index: int, name: str, completion_id: str) -> str:
    """The id given to the ``index``-th tool call of a completion."""
    return f"call__{index}_{name}_{completion_id}"


def _usage(completion: Mapping[str, Any]) -> llama_types.CompletionUsage:
    usage = completion.get("usage")
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return dict(usage)  # type: ignore[return-value]


def chat_from_completion(
    completion: Mapping[str, Any],
    top_n: Optional[int] = None,
) -> llama_types.CreateChatCompletionResponse:
    """A whole text completion as an assistant message per choice."""
    return {
        "id": "chat" + completion["id"],
        "object": "chat.completion",
        "created": completion["created"],
        "model": completion["model"],
        "choices": [
            {
                "index": choice.get("index", i),
                "message": {"role": "assistant", "content": choice["text"]},
                "logprobs": chat_logprobs(choice.get("logprobs"), top_n),
                "finish_reason": choice["finish_reason"],
            }
            for i, choice in enumerate(completion["choices"])
        ],
        "usage": _usage(completion),
    }


@dataclasses.dataclass
class ToolCall:
    name: str
    arguments: str
    id: str


def tool_calls_message(calls: List[ToolCall], content: Optional[str] = None) -> llama_types.ChatCompletionResponseMessage:
    """An assistant message carrying ``calls`` (plus the legacy ``function_call`` when there is one call)."""
    message: Dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
        ],
    }
    if len(calls) == 1:
        message["function_call"] = {"name": calls[0].name, "arguments": calls[0].arguments}
    return message  # type: ignore[return-value]


def tool_call_chat(
    completion: Mapping[str, Any],
    name: str,
    top_n: Optional[int] = None,
    call_id: Optional[str] = None,
) -> llama_types.CreateChatCompletionResponse:
    """A completion whose text is the JSON arguments of a call to ``name``."""
    choice = completion["choices"][0]
    call = ToolCall(name=name, arguments=choice["text"], id=call_id or tool_call_id(0, name, completion["id"]))
    finish = "length" if choice["finish_reason"] == "length" else "tool_calls"
    return {
        "id": "chat" + completion["id"],
        "object": "chat.completion",
        "created": completion["created"],
        "model": completion["model"],
        "choices": [
            {
                "index": 0,
                "message": tool_calls_message([call]),
                "logprobs": chat_logprobs(choice.get("logprobs"), top_n),
                "finish_reason": finish,
            }
        ],
        "usage": _usage(completion),
    }


class ChatStream:
    """Builds the chunks of one streamed chat completion.

    Tool-call deltas follow OpenAI's convention: the call's ``id`` and function
    ``name`` appear in its first delta only, later deltas carry argument text,
    so clients that concatenate deltas (the ``openai`` SDK, LangChain) rebuild
    the call exactly.
    """

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self.id = "chat" + completion_id
        self.created = created
        self.model = model

    @classmethod
    def like(cls, chunk: Mapping[str, Any]) -> ChatStream:
        return cls(chunk["id"], chunk["created"], chunk["model"])

    def chunk(
        self,
        delta: Mapping[str, Any],
        finish_reason: Optional[str] = None,
        logprobs: Optional[llama_types.ChatCompletionLogprobs] = None,
        index: int = 0,
    ) -> llama_types.CreateChatCompletionStreamResponse:
        return {
            "id": self.id,
            "model": self.model,
            "object": "chat.completion.chunk",
            "created": self.created,
            "choices": [
                {"index": index, "delta": dict(delta), "logprobs": logprobs, "finish_reason": finish_reason}  # type: ignore[typeddict-item]
            ],
        }

    def role(self, index: int = 0) -> llama_types.CreateChatCompletionStreamResponse:
        return self.chunk({"role": "assistant"}, index=index)

    def tool_role(self) -> llama_types.CreateChatCompletionStreamResponse:
        return self.chunk({"role": "assistant", "content": None, "function_call": None, "tool_calls": None})

    def tool_delta(
        self,
        index: int,
        call_id: Optional[str],
        name: Optional[str],
        arguments: str,
        logprobs: Optional[llama_types.ChatCompletionLogprobs] = None,
        legacy: bool = True,
    ) -> llama_types.CreateChatCompletionStreamResponse:
        """``call_id``/``name`` are given for the first delta of a call and None afterwards."""
        delta: Dict[str, Any] = {
            "role": None,
            "content": None,
            "function_call": {"name": name, "arguments": arguments} if legacy else None,
            "tool_calls": [
                {
                    "index": index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        }
        return self.chunk(delta, logprobs=logprobs)

    def tool_finish(self, reason: str = "tool_calls") -> llama_types.CreateChatCompletionStreamResponse:
        return self.chunk({"role": None, "content": None, "function_call": None, "tool_calls": None}, reason)


def chat_chunks_from_completion_chunks(
    chunks: Iterable[Mapping[str, Any]],
    top_n: Optional[int] = None,
) -> Iterator[llama_types.CreateChatCompletionStreamResponse]:
    """Stream text completion chunks as chat chunks: per choice a role delta first, then content deltas."""
    stream: Optional[ChatStream] = None
    started = set()
    for chunk in chunks:
        if stream is None:
            stream = ChatStream.like(chunk)
        choice = chunk["choices"][0]
        index = choice.get("index", 0)
        if index not in started:
            started.add(index)
            yield stream.role(index)
        finish = choice.get("finish_reason")
        delta = {} if finish is not None and not choice["text"] else {"content": choice["text"]}
        yield stream.chunk(delta, finish, chat_logprobs(choice.get("logprobs"), top_n), index)


def tool_call_chunks_from_completion_chunks(
    chunks: Iterable[Mapping[str, Any]],
    name: str,
    top_n: Optional[int] = None,
    call_id: Optional[str] = None,
) -> Iterator[llama_types.CreateChatCompletionStreamResponse]:
    """Stream the completion of ``name``'s JSON arguments as tool-call deltas."""
    stream: Optional[ChatStream] = None
    first = True
    for chunk in chunks:
        if stream is None:
            stream = ChatStream.like(chunk)
            call_id = call_id or tool_call_id(0, name, chunk["id"])
            yield stream.tool_role()
        choice = chunk["choices"][0]
        text = choice["text"]
        finish = choice.get("finish_reason")
        if text or (first and finish is not None):
            yield stream.tool_delta(
                0,
                call_id if first else None,
                name if first else None,
                text,
                chat_logprobs(choice.get("logprobs"), top_n),
            )
            first = False
        if finish is not None:
            yield stream.tool_finish("length" if finish == "length" else "tool_calls")
