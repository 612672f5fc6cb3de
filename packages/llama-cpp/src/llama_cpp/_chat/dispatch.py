"""The glue ``Llama`` calls: chat setup from GGUF metadata and handler dispatch.

``Llama.__init__`` calls :func:`chat_setup` once the model is loaded;
``Llama.create_chat_completion`` / ``create_chat_completion_openai_v1`` call
:func:`create_chat_completion` / :func:`create_chat_completion_openai_v1`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .default import guess_chat_format_from_gguf_metadata
from .jinja import Jinja2ChatFormatter
from .protocols import LlamaChatCompletionHandler
from .registry import get_chat_completion_handler

if TYPE_CHECKING:  # pragma: no cover
    from ..llama import Llama

__all__ = ["chat_setup", "create_chat_completion", "create_chat_completion_openai_v1", "resolve_chat_handler"]

_TEMPLATE_KEY = "tokenizer.chat_template"


def _token_text(llama: Llama, token: int) -> str:
    model = getattr(llama, "_model", None)
    if model is None or token is None or token < 0:
        return ""
    try:
        return str(model.token_get_text(token))
    except Exception:  # a vocabulary without that token
        return ""


class _UnusableTemplateHandler:
    """Stands in for a GGUF template that does not compile; fails with the reason when used."""

    def __init__(self, name: str, error: ValueError) -> None:
        self.name = name
        self.error = error

    def __call__(self, **kwargs: Any) -> Any:
        raise ValueError(
            f"{self.error}. The model's template cannot be used; pass chat_format= (e.g. 'chatml') "
            f"or chat_handler= to Llama(...) to chat with this model."
        ) from self.error


def template_handlers(llama: Llama) -> Dict[str, LlamaChatCompletionHandler]:
    """A handler per chat template in the model's metadata (``chat_template.default``, ``chat_template.<name>``)."""
    metadata: Dict[str, str] = getattr(llama, "metadata", None) or {}
    eos_id = llama.token_eos()
    bos_id = llama.token_bos()
    eos_token = _token_text(llama, eos_id)
    bos_token = _token_text(llama, bos_id)
    stop_ids: Optional[List[int]] = [eos_id] if eos_id is not None and eos_id >= 0 else None
    handlers: Dict[str, LlamaChatCompletionHandler] = {}
    for key, template in metadata.items():
        if key == _TEMPLATE_KEY:
            name = "chat_template.default"
        elif key.startswith(_TEMPLATE_KEY + "."):
            name = "chat_template." + key[len(_TEMPLATE_KEY) + 1:]
        else:
            continue
        try:
            formatter = Jinja2ChatFormatter(
                template=template, eos_token=eos_token, bos_token=bos_token, stop_token_ids=stop_ids, name=name
            )
            handlers[name] = formatter.to_chat_handler()
        except ValueError as exc:
            if getattr(llama, "verbose", False):
                print(f"llama_cpp: ignoring the model's {key}: {exc}", file=sys.stderr)
            handlers[name] = _UnusableTemplateHandler(name, exc)
    return handlers


def chat_setup(llama: Llama) -> None:
    """Fill ``llama._chat_handlers`` from the GGUF templates and choose ``llama.chat_format`` if unset.

    With neither ``chat_format`` nor ``chat_handler`` given: the built-in format
    whose template is exactly the model's (see
    ``guess_chat_format_from_gguf_metadata``), else the model's own template
    (``"chat_template.default"``); a model without a template gets ``"llama-2"``.
    """
    llama._chat_handlers.update(template_handlers(llama))
    if llama.chat_format is not None or llama.chat_handler is not None:
        return
    metadata: Dict[str, str] = getattr(llama, "metadata", None) or {}
    if _TEMPLATE_KEY in metadata:
        guessed = guess_chat_format_from_gguf_metadata(metadata)
        llama.chat_format = guessed or "chat_template.default"
    else:
        llama.chat_format = "llama-2"
    if getattr(llama, "verbose", False):
        print(f"llama_cpp: using chat format {llama.chat_format!r}", file=sys.stderr)


def resolve_chat_handler(llama: Llama) -> LlamaChatCompletionHandler:
    """``llama.chat_handler``, else the instance's template handler, else the registered format."""
    if llama.chat_handler is not None:
        return llama.chat_handler
    handler = llama._chat_handlers.get(llama.chat_format)  # type: ignore[arg-type]
    if handler is not None:
        return handler
    return get_chat_completion_handler(llama.chat_format)  # type: ignore[arg-type]


def create_chat_completion(llama: Llama, **kwargs: Any) -> Any:
    """Answer a chat request with the handler chosen for ``llama`` (all arguments as keywords)."""
    handler = resolve_chat_handler(llama)
    return handler(llama=llama, **kwargs)


def create_chat_completion_openai_v1(llama: Llama, *args: Any, **kwargs: Any) -> Any:
    """``llama.create_chat_completion(...)`` as ``openai`` objects (``ChatCompletion`` or chunk iterator)."""
    from .openai_v1 import to_openai

    return to_openai(llama, *args, **kwargs)
