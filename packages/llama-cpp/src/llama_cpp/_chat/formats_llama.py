"""Built-in formats of the Llama / Mistral family: llama-2, llama-3, mistral-instruct,
mistrallite, oasst_llama."""

from __future__ import annotations

from typing import Any, List

from .. import llama_types
from .layouts import plain_layout, system_text, turns
from .protocols import ChatFormatterResponse
from .registry import register_chat_format

__all__ = [
    "format_llama2",
    "format_llama3",
    "format_mistral_instruct",
    "format_mistrallite",
    "format_oasst_llama",
]

Messages = List[llama_types.ChatCompletionRequestMessage]


@register_chat_format("llama-2")
def format_llama2(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    system = system_text(messages)
    head = f"[INST] <<SYS>>\n{system}\n<</SYS>>" if system else ""
    parts = [head, " "]
    for index, (prefix, text) in enumerate(turns(messages, {"user": "<s>[INST]", "assistant": "[/INST]"})):
        if system and index == 0:
            parts.append(f"{text or ''} ")
        elif text:
            parts.append(f"{prefix}{text} {' ' if index % 2 == 0 else '</s>'}")
        else:
            parts.append(f"{prefix} ")
    parts.append("[/INST]")
    return ChatFormatterResponse(prompt="".join(parts))


@register_chat_format("llama-3")
def format_llama3(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    header = "<|start_header_id|>{}<|end_header_id|>\n\n"
    prefixes = {role: header.format(role) for role in ("system", "user", "assistant")}
    pairs = turns(messages, prefixes, generation_prefix=prefixes["assistant"])
    return ChatFormatterResponse(prompt=plain_layout("", pairs, "<|eot_id|>"), stop="<|eot_id|>")


@register_chat_format("mistral-instruct")
def format_mistral_instruct(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    parts: List[str] = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role == "user" and isinstance(content, str):
            parts.append(f"[INST] {content}")
        elif role == "assistant" and content:
            parts.append(f" [/INST]{content}</s>")
    parts.append(" [/INST]")
    return ChatFormatterResponse(prompt="".join(parts), stop="</s>")


@register_chat_format("mistrallite")
def format_mistrallite(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    head = f"<|system|>{system_text(messages)}</s>"
    pairs = turns(messages, {"user": "<|prompter|>", "assistant": "</s>\n<|assistant|>"}, "</s>\n<|assistant|>")
    return ChatFormatterResponse(prompt=plain_layout(head, pairs, " "))


@register_chat_format("oasst_llama")
def format_oasst_llama(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    head = f"[INST] <<SYS>>\n{system_text(messages)}\n<</SYS>>\n\n"
    pairs = turns(messages, {"user": "<|prompter|>", "assistant": "<|assistant|>"}, "<|assistant|>")
    return ChatFormatterResponse(prompt=plain_layout(head, pairs, "</s>"))
