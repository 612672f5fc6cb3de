"""The two protocols every chat path is built on: formatters and handlers."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Union

from typing_extensions import Protocol

from .. import llama_types

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from .._logits import LogitsProcessorList, StoppingCriteriaList
    from ..llama_grammar import LlamaGrammar

__all__ = ["ChatFormatterResponse", "ChatFormatter", "ChatModel", "LlamaChatCompletionHandler"]


class ChatModel(Protocol):
    """What the chat layer uses of a ``Llama``: the chat layer is typed against this, not ``llama.py``."""

    verbose: bool
    metadata: Dict[str, str]
    chat_format: Optional[str]
    chat_handler: Optional[Any]
    _chat_handlers: Dict[str, Any]
    tokenizer_: Any

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> List[int]: ...

    def token_eos(self) -> int: ...

    def token_bos(self) -> int: ...

    def create_completion(self, *args: Any, **kwargs: Any) -> Any: ...

    def create_chat_completion(self, *args: Any, **kwargs: Any) -> Any: ...


@dataclasses.dataclass
class ChatFormatterResponse:
    """What a formatter hands the completion engine.

    ``prompt`` is the text to complete. ``stop`` (a string or a list) is added
    to the caller's stop strings. ``stopping_criteria`` is passed through to
    ``create_completion``. ``added_special`` is True when the prompt already
    starts with the model's BOS/special prefix, so tokenization must not add
    another BOS.
    """

    prompt: str
    stop: Optional[Union[str, List[str]]] = None
    stopping_criteria: Optional[StoppingCriteriaList] = None
    added_special: bool = False


class ChatFormatter(Protocol):
    """Turns a list of chat messages into a ``ChatFormatterResponse``."""

    def __call__(
        self,
        *,
        messages: List[llama_types.ChatCompletionRequestMessage],
        **kwargs: Any,
    ) -> ChatFormatterResponse: ...


class LlamaChatCompletionHandler(Protocol):
    """A callable that answers one chat completion request for a ``Llama``.

    Returns a ``CreateChatCompletionResponse`` dict, or an iterator of
    ``CreateChatCompletionStreamResponse`` chunks when ``stream=True``.
    Implementations must accept (and may ignore) unknown keyword arguments.
    """

    def __call__(
        self,
        *,
        llama: ChatModel,
        messages: List[llama_types.ChatCompletionRequestMessage],
        functions: Optional[List[llama_types.ChatCompletionFunction]] = None,
        function_call: Optional[llama_types.ChatCompletionRequestFunctionCall] = None,
        tools: Optional[List[llama_types.ChatCompletionTool]] = None,
        tool_choice: Optional[llama_types.ChatCompletionToolChoiceOption] = None,
        temperature: float = 0.2,
        top_p: float = 0.95,
        top_k: int = 40,
        stream: bool = False,
        stop: Optional[Union[str, List[str]]] = [],
        seed: Optional[int] = None,
        response_format: Optional[llama_types.ChatCompletionRequestResponseFormat] = None,
        max_tokens: Optional[int] = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repeat_penalty: float = 1.1,
        model: Optional[str] = None,
        logit_bias: Optional[Dict[str, float]] = None,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        logits_processor: Optional[LogitsProcessorList] = None,
        grammar: Optional[LlamaGrammar] = None,
        logprobs: Optional[bool] = None,
        top_logprobs: Optional[int] = None,
        **kwargs: Any,
    ) -> Union[
        llama_types.CreateChatCompletionResponse,
        Iterator[llama_types.CreateChatCompletionStreamResponse],
    ]: ...
