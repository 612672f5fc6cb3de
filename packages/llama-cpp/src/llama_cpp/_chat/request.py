"""One chat request: the single carrier of a chat call's arguments below ``create_chat_completion``.

`ChatRequest` holds every argument of a chat completion, with its
default and its check, in one place. ``Llama.create_chat_completion`` builds
one and hands it to the chat handler. The built-in handlers are
`RequestHandler` objects taking ``(llama, request)``; called with
keywords, as the handler protocol of the API we replace says
(``handler(llama=..., messages=..., temperature=...)``), they build the request
from those keywords first, so third-party code calling them keeps working.
Third-party handlers (plain callables) still receive keywords.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Union

from .. import llama_types

if TYPE_CHECKING:  # pragma: no cover
    from .._logits import LogitsProcessorList, StoppingCriteriaList
    from ..llama_grammar import LlamaGrammar
    from .protocols import ChatModel

__all__ = ["ChatRequest", "RequestHandler", "normalize_stop", "request_handler"]


def normalize_stop(stop: Optional[Union[str, List[str]]]) -> List[str]:
    """A stop argument as a list of non-empty strings."""
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop] if stop else []
    if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
        raise ValueError(f"stop must be a string or a list of strings, got {stop!r}")
    return [s for s in stop if s]


@dataclasses.dataclass
class ChatRequest:
    """The arguments of a chat completion call, minus ``llama`` (see ``Llama.create_chat_completion``).

    The defaults are those of the chat handler protocol of the API we replace
    (``repeat_penalty=1.1``); ``Llama.create_chat_completion`` passes every
    argument explicitly, with its own defaults (``repeat_penalty=1.0``).
    ``n`` and ``best_of`` are OpenAI request fields; ``extra`` holds any other
    keyword (template variables such as ``enable_thinking``, ``user``, ...).
    """

    messages: List[llama_types.ChatCompletionRequestMessage]
    functions: Optional[List[llama_types.ChatCompletionFunction]] = None
    function_call: Optional[llama_types.ChatCompletionRequestFunctionCall] = None
    tools: Optional[List[llama_types.ChatCompletionTool]] = None
    tool_choice: Optional[llama_types.ChatCompletionToolChoiceOption] = None
    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    typical_p: float = 1.0
    stream: bool = False
    stop: Optional[Union[str, List[str]]] = None
    seed: Optional[int] = None
    response_format: Optional[llama_types.ChatCompletionRequestResponseFormat] = None
    max_tokens: Optional[int] = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repeat_penalty: float = 1.1
    tfs_z: float = 1.0
    mirostat_mode: int = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    model: Optional[str] = None
    logits_processor: Optional[LogitsProcessorList] = None
    grammar: Optional[LlamaGrammar] = None
    logit_bias: Optional[Dict[Any, float]] = None
    logprobs: Optional[bool] = None
    top_logprobs: Optional[int] = None
    n: int = 1
    best_of: Optional[int] = None
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> ChatRequest:
        """Build from keyword arguments: known names become fields, the rest ``extra`` (template variables)."""
        names = _field_names()
        fields = {k: v for k, v in kwargs.items() if k in names}
        for name in ("n", "best_of"):  # None means "not given" for these OpenAI fields
            if fields.get(name, 0) is None:
                del fields[name]
        if "messages" not in fields:
            raise TypeError("a chat request needs messages=")
        return cls(**fields, extra={k: v for k, v in kwargs.items() if k not in names})

    def keywords(self) -> Dict[str, Any]:
        """The request as the keyword arguments of the handler protocol (for third-party handlers)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        if out["best_of"] is None:
            del out["best_of"]
        if out["n"] == 1:
            del out["n"]  # handlers written for the API we replace never saw these unless asked for
        out.update(self.extra)
        return out

    @property
    def logprobs_count(self) -> Optional[int]:
        """The ``logprobs`` value for ``create_completion`` (None when not requested)."""
        if not self.logprobs:
            return None
        return int(self.top_logprobs) if self.top_logprobs is not None else 0

    @property
    def top_n(self) -> Optional[int]:
        return self.logprobs_count

    def stop_list(self, *more: Optional[Union[str, List[str]]]) -> List[str]:
        out = normalize_stop(self.stop)
        for extra in more:
            out.extend(s for s in normalize_stop(extra) if s not in out)
        return out

    def sampling(self) -> Dict[str, Any]:
        """The sampling arguments of ``create_completion`` this request asks for."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "min_p": self.min_p,
            "typical_p": self.typical_p,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "repeat_penalty": self.repeat_penalty,
            "tfs_z": self.tfs_z,
            "mirostat_mode": self.mirostat_mode,
            "mirostat_tau": self.mirostat_tau,
            "mirostat_eta": self.mirostat_eta,
            "model": self.model,
            "logits_processor": self.logits_processor,
            "logit_bias": self.logit_bias,
        }

    def complete(
        self,
        llama: ChatModel,
        prompt: Union[str, List[int]],
        *,
        stream: bool = False,
        stop: Optional[List[str]] = None,
        grammar: Optional[LlamaGrammar] = None,
        stopping_criteria: Optional[StoppingCriteriaList] = None,
        logprobs: bool = True,
        add_bos: bool = True,
        **overrides: Any,
    ) -> Union[llama_types.CreateCompletionResponse, Iterator[llama_types.CreateCompletionResponse]]:
        """Run ``llama.create_completion`` with this request's sampling settings.

        A ``str`` prompt is tokenized here with special tokens parsed; ``add_bos``
        lets the vocabulary add its BOS (llama.cpp adds it only when the model
        asks for one).
        """
        if isinstance(prompt, str):
            prompt = llama.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)
        kwargs = self.sampling()
        kwargs.update(overrides)
        create_completion: Any = llama.create_completion  # overloaded on ``stream``
        return create_completion(
            prompt=prompt,
            stream=stream,
            stop=stop if stop is not None else [],
            grammar=grammar,
            stopping_criteria=stopping_criteria,
            logprobs=self.logprobs_count if logprobs else None,
            n=self.n,
            best_of=self.best_of,
            **kwargs,
        )


@functools.cache
def _field_names() -> frozenset:
    return frozenset(f.name for f in dataclasses.fields(ChatRequest)) - {"extra"}


class RequestHandler:
    """A built-in chat handler: ``impl(llama, request)``, also callable with the protocol's keywords.

    Args:
        impl: The handler's work, given the ``Llama`` and the `ChatRequest`.
    """

    takes_request = True  # the dispatcher passes a ChatRequest to handle() instead of keywords

    def __init__(self, impl: Callable[[ChatModel, ChatRequest], Any]) -> None:
        self.impl = impl
        functools.update_wrapper(self, impl)  # type: ignore[arg-type]

    def handle(self, llama: ChatModel, request: ChatRequest) -> Any:
        """Answer ``request``."""
        return self.impl(llama, request)

    def __call__(self, *, llama: ChatModel, **kwargs: Any) -> Any:
        return self.impl(llama, ChatRequest.from_kwargs(kwargs))


def request_handler(impl: Callable[[ChatModel, ChatRequest], Any]) -> RequestHandler:
    """Decorator: make ``impl(llama, request)`` a `RequestHandler`."""
    return RequestHandler(impl)
