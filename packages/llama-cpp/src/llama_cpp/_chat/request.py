"""One chat request, gathered from a handler's keyword arguments."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Union

from .. import llama_types

if TYPE_CHECKING:  # pragma: no cover
    from ..llama import Llama, LogitsProcessorList, StoppingCriteriaList
    from ..llama_grammar import LlamaGrammar

__all__ = ["ChatRequest", "normalize_stop"]


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
    """The arguments of a chat completion call, minus ``llama``."""

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
    def from_locals(cls, values: Mapping[str, Any]) -> ChatRequest:
        """Build from a handler's ``locals()``: known names become fields, ``kwargs`` becomes ``extra``."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        fields = {name: values[name] for name in names if name in values}
        extra = dict(values.get("kwargs") or {})
        for name in ("n", "best_of"):  # OpenAI request fields that handler signatures take as **kwargs
            if name in extra:
                value = extra.pop(name)
                if value is not None:
                    fields[name] = value
        return cls(**fields, extra=extra)

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
        llama: Llama,
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
