"""Built-in formats of other families: baichuan, baichuan-2, chatglm3, saiga, gemma."""

from __future__ import annotations

from typing import Any, List

from .. import llama_types
from .._logger import logger
from .layouts import glm_layout, plain_layout, system_text, turns
from .protocols import ChatFormatterResponse
from .registry import register_chat_format

__all__ = ["format_baichuan", "format_baichuan2", "format_chatglm3", "format_gemma", "format_saiga"]

Messages = List[llama_types.ChatCompletionRequestMessage]


@register_chat_format("baichuan-2")
def format_baichuan2(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    pairs = turns(messages, {"user": "<reserved_106>", "assistant": "<reserved_107>"}, "<reserved_107>")
    return ChatFormatterResponse(prompt=plain_layout(system_text(messages), pairs, ""))


@register_chat_format("baichuan")
def format_baichuan(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    pairs = turns(messages, {"user": "<reserved_102>", "assistant": "<reserved_103>"}, "<reserved_103>")
    return ChatFormatterResponse(prompt=plain_layout(system_text(messages), pairs, ""))


@register_chat_format("chatglm3")
def format_chatglm3(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    pairs = turns(messages, {"user": "<|user|>", "assistant": "<|assistant|>"}, "<|assistant|>")
    return ChatFormatterResponse(prompt=glm_layout("<|system|>\n" + system_text(messages), pairs), stop="</s>")


@register_chat_format("saiga")
def format_saiga(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    # Compatibility: only "user", "bot" and "system" roles are rendered ("assistant" is not).
    parts: List[str] = []
    for prefix, text in turns(messages, {"user": "user", "bot": "bot", "system": "system"}):
        parts.append(f"<s>{prefix}\n{text}</s>" if text else f"<s>{prefix}\n")
    parts.append("<s>bot")
    return ChatFormatterResponse(prompt="".join(parts).strip())


@register_chat_format("gemma")
def format_gemma(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    if any(message.get("role") == "system" for message in messages):
        logger.debug("gemma: the gemma format has no system role; system messages are left out of the prompt")
    pairs = turns(
        messages,
        {"user": "<start_of_turn>user\n", "assistant": "<start_of_turn>model\n"},
        "<start_of_turn>model\n",
    )
    return ChatFormatterResponse(prompt=plain_layout("", pairs, "<end_of_turn>\n"), stop="<end_of_turn>\n")
