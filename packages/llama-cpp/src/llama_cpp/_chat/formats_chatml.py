"""Built-in formats in the ChatML family (``<|...|>`` role markers, one block per turn):
chatml, qwen, zephyr, pygmalion, openchat, open-orca."""

from __future__ import annotations

from typing import Any, List

from .. import llama_types
from .layouts import chatml_layout, colon_space_layout, system_text, turns
from .protocols import ChatFormatterResponse
from .registry import register_chat_format

__all__ = [
    "OPEN_ORCA_SYSTEM_PROMPT",
    "format_chatml",
    "format_open_orca",
    "format_openchat",
    "format_pygmalion",
    "format_qwen",
    "format_zephyr",
]

Messages = List[llama_types.ChatCompletionRequestMessage]

OPEN_ORCA_SYSTEM_PROMPT = (
    "You are a helpful assistant. Please answer truthfully and write out your thinking step by step to be "
    "sure you get the right answer. If you make a mistake or encounter an error in your thinking, say so out "
    "loud and attempt to correct it. If you don't know or aren't sure about something, say so clearly. You "
    "will act as a professional logician, mathematician, and physicist. You will also act as the most "
    "appropriate type of expert to answer any particular question or solve the relevant problem; state which "
    "expert type your are, if so. Also think of any particular named expert that would be ideal to answer "
    "the relevant question or solve the relevant problem; name and act as them, if appropriate."
)


def _im_blocks(head: str, messages: Messages) -> str:
    pairs = turns(messages, {"user": "<|im_start|>user", "assistant": "<|im_start|>assistant"}, "<|im_start|>assistant")
    return chatml_layout(head, pairs, "<|im_end|>")


@register_chat_format("chatml")
def format_chatml(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    prompt = _im_blocks("<|im_start|>system\n" + system_text(messages), messages)
    return ChatFormatterResponse(prompt=prompt, stop="<|im_end|>")


@register_chat_format("qwen")
def format_qwen(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    system = system_text(messages) or "You are a helpful assistant."
    prompt = _im_blocks("<|im_start|>system\n" + system, messages)
    return ChatFormatterResponse(prompt=prompt, stop="<|endoftext|>")


@register_chat_format("zephyr")
def format_zephyr(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    pairs = turns(messages, {"user": "<|user|>\n", "assistant": "<|assistant|>\n"}, "<|assistant|>\n")
    prompt = chatml_layout("<|system|>\n" + system_text(messages), pairs, "</s>")
    return ChatFormatterResponse(prompt=prompt, stop="</s>")


@register_chat_format("pygmalion")
def format_pygmalion(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    pairs = turns(messages, {"user": "<|user|>", "assistant": "<|model|>"}, "<|model|>")
    prompt = chatml_layout("<|system|>" + system_text(messages), pairs, "\n")
    return ChatFormatterResponse(prompt=prompt, stop="\n")


@register_chat_format("openchat")
def format_openchat(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    assistant = "<|end_of_turn|>GPT4 Correct Assistant: "
    pairs = turns(messages, {"user": "GPT4 Correct User: ", "assistant": assistant}, assistant)
    prompt = chatml_layout(system_text(messages) + "<|end_of_turn|>", pairs, "<|end_of_turn|>")
    return ChatFormatterResponse(prompt=prompt, stop="<|end_of_turn|>")


@register_chat_format("open-orca")
def format_open_orca(messages: Messages, **kwargs: Any) -> ChatFormatterResponse:
    # Compatibility: the role keys are capitalised ("User"/"Assistant"), so ordinary
    # lower-case messages do not appear in the prompt (see docs/chat.md).
    pairs = turns(messages, {"User": "User", "Assistant": "Assistant"}, "Assistant")
    prompt = colon_space_layout(OPEN_ORCA_SYSTEM_PROMPT, pairs, "<|end_of_turn|>\n")
    return ChatFormatterResponse(prompt=prompt, stop="User")
