"""Chat prompt formats and chat completion handlers.

``Llama.create_chat_completion`` hands each request to a *handler*: a callable
taking ``llama=`` plus the request's keyword arguments and returning an
OpenAI-shaped chat response (or an iterator of chunks when streaming).
Handlers are registered by name (the ``chat_format`` argument of ``Llama``);
most are built from a *formatter*, which only turns messages into a prompt.

Registry: ``register_chat_format``, ``register_chat_completion_handler``,
``get_chat_completion_handler``, ``LlamaChatCompletionHandlerRegistry``.
Formatters: ``ChatFormatter``, ``ChatFormatterResponse``,
``Jinja2ChatFormatter`` (sandboxed Jinja2 chat templates, as in GGUF
files and Hugging Face tokenizers), the built-in ``format_*`` functions, and
``chat_formatter_to_chat_completion_handler``. Tool calling:
``chatml_function_calling``, ``functionary_chat_handler``,
``functionary_v1_v2_chat_handler``. Vision: ``Llava15ChatHandler``
and friends. See ``docs/chat.md``.
"""

from __future__ import annotations

from ._chat import compat as _compat
from ._chat import formats_chatml, formats_instruct, formats_llama, formats_misc  # noqa: F401  (registers formats)
from ._chat.adapter import chat_formatter_to_chat_completion_handler
from ._chat.compat import *  # noqa: F403  (llama-cpp-python's private helper names, listed in compat.__all__)
from ._chat.default import (
    CHATML_BOS_TOKEN,
    CHATML_CHAT_TEMPLATE,
    CHATML_EOS_TOKEN,
    LLAMA3_INSTRUCT_CHAT_TEMPLATE,
    MISTRAL_INSTRUCT_BOS_TOKEN,
    MISTRAL_INSTRUCT_CHAT_TEMPLATE,
    MISTRAL_INSTRUCT_EOS_TOKEN,
    MIXTRAL_INSTRUCT_CHAT_TEMPLATE,
    guess_chat_format_from_gguf_metadata,
)
from ._chat.formats_chatml import (
    OPEN_ORCA_SYSTEM_PROMPT,
    format_chatml,
    format_open_orca,
    format_openchat,
    format_pygmalion,
    format_qwen,
    format_zephyr,
)
from ._chat.formats_instruct import (
    OPENBUDDY_SYSTEM_PROMPT,
    SNOOZY_SYSTEM_PROMPT,
    VICUNA_SYSTEM_PROMPT,
    format_alpaca,
    format_intel,
    format_openbuddy,
    format_phind,
    format_redpajama_incite,
    format_snoozy,
    format_vicuna,
)
from ._chat.formats_llama import (
    format_llama2,
    format_llama3,
    format_mistral_instruct,
    format_mistrallite,
    format_oasst_llama,
)
from ._chat.formats_misc import format_baichuan, format_baichuan2, format_chatglm3, format_gemma, format_saiga
from ._chat.function_calling import CHATML_FUNCTION_CALLING_INSTRUCTIONS, chatml_function_calling
from ._chat.functionary import (
    FUNCTIONARY_SYSTEM_MESSAGE,
    functionary_chat_handler,
    functionary_new_chat_handler,
    functionary_v1_v2_chat_handler,
)
from ._chat.hf import (
    hf_autotokenizer_to_chat_completion_handler,
    hf_autotokenizer_to_chat_formatter,
    hf_tokenizer_config_to_chat_completion_handler,
    hf_tokenizer_config_to_chat_formatter,
)
from ._chat.jinja import IgnoreGenerationTags, Jinja2ChatFormatter
from ._chat.multimodal import (
    MEDIA_MARKER,
    Gemma4ChatHandler,
    Llama3VisionAlpha,
    Llama3VisionAlphaChatHandler,
    Llava15ChatHandler,
    Llava16ChatHandler,
    MiniCPMv26ChatHandler,
    MoondreamChatHandler,
    MTMDChatHandler,
    MultimodalUnavailableError,
    NanoLlavaChatHandler,
    ObsidianChatHandler,
    Qwen25VLChatHandler,
)
from ._chat.protocols import ChatFormatter, ChatFormatterResponse, LlamaChatCompletionHandler
from ._chat.registry import (
    LlamaChatCompletionHandlerNotFoundException,
    LlamaChatCompletionHandlerRegistry,
    get_chat_completion_handler,
    register_chat_completion_handler,
    register_chat_format,
)

# The vicuna formatter's name in llama-cpp-python (it shadows the builtin inside this module only).
format = format_vicuna

__all__ = [
    # protocols and registry
    "ChatFormatter",
    "ChatFormatterResponse",
    "LlamaChatCompletionHandler",
    "LlamaChatCompletionHandlerNotFoundException",
    "LlamaChatCompletionHandlerRegistry",
    "get_chat_completion_handler",
    "register_chat_completion_handler",
    "register_chat_format",
    "chat_formatter_to_chat_completion_handler",
    # templates
    "IgnoreGenerationTags",
    "Jinja2ChatFormatter",
    "guess_chat_format_from_gguf_metadata",
    "CHATML_CHAT_TEMPLATE",
    "CHATML_BOS_TOKEN",
    "CHATML_EOS_TOKEN",
    "MISTRAL_INSTRUCT_CHAT_TEMPLATE",
    "MISTRAL_INSTRUCT_BOS_TOKEN",
    "MISTRAL_INSTRUCT_EOS_TOKEN",
    "MIXTRAL_INSTRUCT_CHAT_TEMPLATE",
    "LLAMA3_INSTRUCT_CHAT_TEMPLATE",
    # Hugging Face helpers
    "hf_autotokenizer_to_chat_formatter",
    "hf_autotokenizer_to_chat_completion_handler",
    "hf_tokenizer_config_to_chat_formatter",
    "hf_tokenizer_config_to_chat_completion_handler",
    # built-in formats
    "format_llama2",
    "format_llama3",
    "format_alpaca",
    "format_qwen",
    "format",
    "format_vicuna",
    "format_oasst_llama",
    "format_baichuan2",
    "format_baichuan",
    "format_openbuddy",
    "format_redpajama_incite",
    "format_snoozy",
    "format_phind",
    "format_intel",
    "format_open_orca",
    "format_mistrallite",
    "format_zephyr",
    "format_pygmalion",
    "format_chatml",
    "format_mistral_instruct",
    "format_chatglm3",
    "format_openchat",
    "format_saiga",
    "format_gemma",
    "VICUNA_SYSTEM_PROMPT",
    "OPENBUDDY_SYSTEM_PROMPT",
    "SNOOZY_SYSTEM_PROMPT",
    "OPEN_ORCA_SYSTEM_PROMPT",
    # tool calling
    "chatml_function_calling",
    "CHATML_FUNCTION_CALLING_INSTRUCTIONS",
    "functionary_chat_handler",
    "functionary_new_chat_handler",
    "functionary_v1_v2_chat_handler",
    "FUNCTIONARY_SYSTEM_MESSAGE",
    # vision
    "MEDIA_MARKER",
    "MultimodalUnavailableError",
    "Llava15ChatHandler",
    "ObsidianChatHandler",
    "MoondreamChatHandler",
    "Llava16ChatHandler",
    "NanoLlavaChatHandler",
    "Llama3VisionAlphaChatHandler",
    "Llama3VisionAlpha",
    "MiniCPMv26ChatHandler",
    "Qwen25VLChatHandler",
    "MTMDChatHandler",
    "Gemma4ChatHandler",
]
__all__ += _compat.__all__  # private helpers kept under llama-cpp-python's names
