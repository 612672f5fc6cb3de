"""Built-in "Role: text" instruction formats: alpaca, vicuna, snoozy, phind, intel,
openbuddy, redpajama-incite."""

from __future__ import annotations

from typing import Any, List

from .. import llama_types
from .layouts import colon_layout, system_text, turns
from .protocols import ChatFormatterResponse
from .registry import register_chat_format

__all__ = [
    "OPENBUDDY_SYSTEM_PROMPT",
    "SNOOZY_SYSTEM_PROMPT",
    "VICUNA_SYSTEM_PROMPT",
    "format_alpaca",
    "format_intel",
    "format_openbuddy",
    "format_phind",
    "format_redpajama_incite",
    "format_snoozy",
    "format_vicuna",
]

Messages = List[llama_types.ChatCompletionRequestMessage]

VICUNA_SYSTEM_PROMPT = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

SNOOZY_SYSTEM_PROMPT = (
    "The prompt below is a question to answer, a task to complete, or a conversation to respond to; "
    "decide which and write an appropriate response."
)

OPENBUDDY_SYSTEM_PROMPT = """\
You are a helpful, respectful and honest INTP-T AI Assistant named Buddy. You are talking to a human User.
Always answer as helpfully and logically as possible, while being safe. Your answers should not include any \
harmful, political, religious, unethical, racist, sexist, toxic, dangerous, or illegal content. Please ensure that \
your responses are socially unbiased and positive in nature.
If a question does not make any sense, or is not factually coherent, explain why instead of answering something \
not correct. If you don't know the answer to a question, please don't share false information.
You can speak fluently in many languages, for example: English, Chinese.
You cannot access the internet, but you have vast knowledge, cutoff: 2021-09.
You are trained by OpenBuddy team, (https://openbuddy.ai, https://github.com/OpenBuddy/OpenBuddy), you are based \
on LLaMA and Falcon transformers model, not related to GPT or OpenAI.

"""


@register_chat_format("alpaca")
def format_alpaca(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    pairs = turns(messages, {"user": "### Instruction", "assistant": "### Response"})
    return ChatFormatterResponse(prompt=colon_layout(system_text(messages), pairs, "\n\n", "</s>"))


@register_chat_format("vicuna")
def format_vicuna(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    pairs = turns(messages, {"user": "USER", "assistant": "ASSISTANT"}, "ASSISTANT")
    return ChatFormatterResponse(prompt=colon_layout(VICUNA_SYSTEM_PROMPT, pairs, " ", "</s>"))


@register_chat_format("openbuddy")
def format_openbuddy(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    pairs = turns(messages, {"user": "User", "assistant": "Assistant"}, "Assistant")
    return ChatFormatterResponse(prompt=colon_layout(OPENBUDDY_SYSTEM_PROMPT, pairs, "\n"))


@register_chat_format("redpajama-incite")
def format_redpajama_incite(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    pairs = turns(messages, {"user": "<human>", "assistant": "<bot>"}, "<bot>")
    return ChatFormatterResponse(prompt=colon_layout(system_text(messages), pairs, "\n"), stop="<human>")


@register_chat_format("snoozy")
def format_snoozy(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    head = system_text(messages) or SNOOZY_SYSTEM_PROMPT
    pairs = turns(messages, {"user": "### Prompt", "assistant": "### Response"}, "### Response")
    return ChatFormatterResponse(prompt=colon_layout(head, pairs, "\n"), stop="###")


@register_chat_format("phind")
def format_phind(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    head = "### System Prompt\nYou are an intelligent programming assistant."
    pairs = turns(messages, {"user": "### User Message", "assistant": "### Assistant"}, "### Assistant")
    return ChatFormatterResponse(prompt=colon_layout(head, pairs, "\n\n"))


@register_chat_format("intel")
def format_intel(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    # Compatibility: "{system_message}" is literal text here, the system message is not used.
    head = "### System:\n{system_message}"
    pairs = turns(messages, {"user": "### User:", "assistant": "### Assistant:"}, "### Assistant:")
    return ChatFormatterResponse(prompt=colon_layout(head, pairs, "\n"))
