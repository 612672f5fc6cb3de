"""Formatters built from Hugging Face tokenizers and ``tokenizer_config.json`` contents."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Union

from .. import llama_types
from .adapter import chat_formatter_to_chat_completion_handler
from .jinja import compile_template, make_environment, render_template
from .protocols import ChatFormatter, ChatFormatterResponse, LlamaChatCompletionHandler

__all__ = [
    "hf_autotokenizer_to_chat_completion_handler",
    "hf_autotokenizer_to_chat_formatter",
    "hf_tokenizer_config_to_chat_completion_handler",
    "hf_tokenizer_config_to_chat_formatter",
]


def hf_autotokenizer_to_chat_formatter(
    pretrained_model_name_or_path: Union[str, os.PathLike[str]],
) -> ChatFormatter:
    """A formatter that renders with ``transformers.AutoTokenizer.apply_chat_template``."""
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise ImportError(
            "hf_autotokenizer_to_chat_formatter needs Hugging Face transformers: pip install transformers"
        ) from exc

    tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path)

    def format_autotokenizer(
        messages: List[llama_types.ChatCompletionRequestMessage],
        **kwargs: Any,
    ) -> ChatFormatterResponse:
        options = {k: v for k, v in kwargs.items() if k not in ("functions", "function_call", "tool_choice")}
        if options.get("tools") is None:
            options.pop("tools", None)
        options.setdefault("add_generation_prompt", True)
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, **options)
        if not isinstance(prompt, str):
            raise ValueError(f"apply_chat_template returned {type(prompt).__name__}, expected the prompt text")
        return ChatFormatterResponse(prompt=prompt, stop=tokenizer.eos_token, added_special=True)

    return format_autotokenizer


def hf_autotokenizer_to_chat_completion_handler(
    pretrained_model_name_or_path: Union[str, os.PathLike[str]],
) -> LlamaChatCompletionHandler:
    return chat_formatter_to_chat_completion_handler(hf_autotokenizer_to_chat_formatter(pretrained_model_name_or_path))


def _token(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if isinstance(value, Mapping):  # an AddedToken serialised as {"content": "<s>", ...}
        value = value.get("content")
    if not isinstance(value, str):
        raise ValueError(f"tokenizer_config has no string {key!r}; it needs chat_template, bos_token and eos_token")
    return value


def hf_tokenizer_config_to_chat_formatter(
    tokenizer_config: Dict[str, Any],
    add_generation_prompt: bool = True,
) -> ChatFormatter:
    """A formatter from the contents of a Hugging Face ``tokenizer_config.json``.

    Templates that use ``add_generation_prompt`` get it; for older templates
    that do not, an empty assistant message is appended instead, as
    ``llama-cpp-python`` does.
    """
    template_source = tokenizer_config.get("chat_template")
    if isinstance(template_source, list):  # named templates: [{"name": ..., "template": ...}]
        named = {t.get("name"): t.get("template") for t in template_source if isinstance(t, Mapping)}
        template_source = named.get("default")
    if not isinstance(template_source, str):
        raise ValueError("tokenizer_config has no string 'chat_template'; it needs chat_template, bos_token and eos_token")
    bos_token = _token(tokenizer_config, "bos_token")
    eos_token = _token(tokenizer_config, "eos_token")
    template = compile_template(make_environment(), template_source, "tokenizer_config chat_template")
    native_generation_prompt = "add_generation_prompt" in template_source

    def format_tokenizer_config(
        messages: List[llama_types.ChatCompletionRequestMessage],
        **kwargs: Any,
    ) -> ChatFormatterResponse:
        rendered_messages: List[Any] = list(messages)
        if add_generation_prompt and not native_generation_prompt:
            rendered_messages.append({"role": "assistant", "content": ""})
        variables: Dict[str, Any] = dict(kwargs)
        variables.update(
            messages=rendered_messages,
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt and native_generation_prompt,
        )
        prompt = render_template(template, "tokenizer_config chat_template", variables)
        return ChatFormatterResponse(prompt=prompt, stop=[eos_token, bos_token], added_special=True)

    return format_tokenizer_config


def hf_tokenizer_config_to_chat_completion_handler(
    tokenizer_config: Dict[str, Any],
    add_generation_prompt: bool = True,
) -> LlamaChatCompletionHandler:
    return chat_formatter_to_chat_completion_handler(
        hf_tokenizer_config_to_chat_formatter(tokenizer_config, add_generation_prompt=add_generation_prompt)
    )
