"""The glue ``Llama`` calls: chat setup from GGUF metadata and handler dispatch.

``Llama.__init__`` calls `chat_setup` once the model is loaded;
``Llama.create_chat_completion`` / ``create_chat_completion_openai_v1`` call
`create_chat_completion` / `create_chat_completion_openai_v1`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .._logger import logger
from .default import guess_chat_format_from_gguf_metadata
from .protocols import LlamaChatCompletionHandler
from .registry import get_chat_completion_handler
from .request import ChatRequest

if TYPE_CHECKING:  # pragma: no cover
    from .protocols import ChatModel

__all__ = ["chat_setup", "create_chat_completion", "create_chat_completion_openai_v1", "resolve_chat_handler"]

_TEMPLATE_KEY = "tokenizer.chat_template"


def _token_text(llama: ChatModel, token: int) -> str:
    model = getattr(llama, "_model", None)
    if model is None or token is None or token < 0:
        return ""
    try:
        return str(model.token_get_text(token))
    except Exception:  # a vocabulary without that token
        return ""


class _TemplateHandler:
    """The handler of one GGUF chat template, compiled the first time it is used.

    Loading a model only records the template: importing Jinja2 and compiling
    cost more than the rest of ``Llama()`` for a small model, and most programs
    never chat. A template that does not compile fails when used, with the reason.
    """

    def __init__(self, name: str, template: str, eos_token: str, bos_token: str, stop_ids: Optional[List[int]]) -> None:
        self.name = name
        self.template = template
        self._args = dict(eos_token=eos_token, bos_token=bos_token, stop_token_ids=stop_ids, name=name)
        self._handler: Optional[LlamaChatCompletionHandler] = None
        self._error: Optional[ValueError] = None
        self._lock = threading.Lock()

    def _compiled(self) -> LlamaChatCompletionHandler:
        with self._lock:
            if self._handler is None and self._error is None:
                from .jinja import Jinja2ChatFormatter

                try:
                    formatter = Jinja2ChatFormatter(template=self.template, **self._args)  # type: ignore[arg-type]
                    self._handler = formatter.to_chat_handler()
                except ValueError as exc:
                    logger.warning("ignoring the model's chat template %s: %s", self.name, exc)
                    self._error = exc
        if self._error is not None:
            raise ValueError(
                f"{self._error}. The model's template cannot be used; pass chat_format= (e.g. 'chatml') "
                f"or chat_handler= to Llama(...) to chat with this model."
            ) from self._error
        assert self._handler is not None
        return self._handler

    @property
    def chat_formatter(self) -> Any:
        """The compiled `Jinja2ChatFormatter`."""
        return self._compiled().chat_formatter  # type: ignore[attr-defined]

    takes_request = True

    def handle(self, llama: ChatModel, request: ChatRequest) -> Any:
        return self._compiled().handle(llama, request)  # type: ignore[attr-defined]

    def __call__(self, **kwargs: Any) -> Any:
        return self._compiled()(**kwargs)


def template_handlers(llama: ChatModel) -> Dict[str, LlamaChatCompletionHandler]:
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
        handlers[name] = _TemplateHandler(name, template, eos_token, bos_token, stop_ids)
    return handlers


def chat_setup(llama: ChatModel) -> None:
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
    logger.info("using chat format %r", llama.chat_format)


def resolve_chat_handler(llama: ChatModel) -> LlamaChatCompletionHandler:
    """``llama.chat_handler``, else the instance's template handler, else the registered format."""
    if llama.chat_handler is not None:
        return llama.chat_handler
    handler = llama._chat_handlers.get(llama.chat_format)  # type: ignore[arg-type]
    if handler is not None:
        return handler
    return get_chat_completion_handler(llama.chat_format)  # type: ignore[arg-type]


def create_chat_completion(llama: ChatModel, request: ChatRequest) -> Any:
    """Answer ``request`` with the handler chosen for ``llama``.

    Built-in handlers take the request object; any other callable gets the
    handler protocol's keyword arguments.
    """
    handler = resolve_chat_handler(llama)
    if getattr(handler, "takes_request", False) is True:
        return handler.handle(llama, request)  # type: ignore[attr-defined]
    return handler(llama=llama, **request.keywords())


def create_chat_completion_openai_v1(llama: ChatModel, *args: Any, **kwargs: Any) -> Any:
    """``llama.create_chat_completion(...)`` as ``openai`` objects (``ChatCompletion`` or chunk iterator)."""
    from .openai_v1 import to_openai

    return to_openai(llama, *args, **kwargs)
