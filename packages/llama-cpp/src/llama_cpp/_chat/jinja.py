"""Sandboxed Jinja2 rendering of chat templates (GGUF ``tokenizer.chat_template`` and friends).

A chat template comes from a model file, which is untrusted input. Templates
are therefore compiled in an ``jinja2.sandbox.ImmutableSandboxedEnvironment``
that additionally *refuses* (instead of silently blanking) any access to
unsafe attributes such as ``__class__`` or ``__globals__``, and that has no
loader, so ``{% include %}`` / ``{% import %}`` cannot read files.

The variables and helpers match what Hugging Face ``transformers`` gives
templates, so a template renders here exactly as ``apply_chat_template`` does.
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any, Dict, List, NoReturn, Optional, Sequence, Tuple, Union

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .. import llama_types
from .protocols import ChatFormatterResponse

if TYPE_CHECKING:  # pragma: no cover
    from .._logits import StoppingCriteriaList
    from .protocols import LlamaChatCompletionHandler

__all__ = [
    "IgnoreGenerationTags",
    "Jinja2ChatFormatter",
    "TemplateRefused",
    "compile_template",
    "make_environment",
    "raise_exception",
    "render_template",
    "strftime_now",
    "tojson",
]


class TemplateRefused(ValueError):
    """Raised when a chat template cannot be compiled or rendered."""


def tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: Optional[Union[int, str]] = None,
    separators: Optional[Tuple[str, str]] = None,
    sort_keys: bool = False,
) -> str:
    """``tojson`` as Hugging Face templates expect it: plain ``json.dumps``, no HTML escaping,
    keys in insertion order unless ``sort_keys``."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format: str) -> str:
    """The current local time formatted with ``format`` (templates use it for dates)."""
    return datetime.datetime.now().strftime(format)


def raise_exception(message: str) -> NoReturn:
    """Lets a template reject its input, e.g. roles that do not alternate."""
    raise ValueError(message)


class IgnoreGenerationTags(jinja2.ext.Extension):
    """Accepts ``{% generation %}...{% endgeneration %}`` and renders the body as is.

    Hugging Face uses these tags to mark assistant tokens for training masks;
    they carry no meaning for inference.
    """

    tags = {"generation"}

    def parse(self, parser: Any) -> List[nodes.Node]:
        next(parser.stream)  # the "generation" token
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


class _RefusingSandbox(ImmutableSandboxedEnvironment):
    """An immutable sandbox that raises on unsafe attribute access rather than rendering ''."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:  # type: ignore[override]
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is not allowed in a chat template"
        )


def make_environment() -> jinja2.Environment:
    """A fresh environment configured like Hugging Face's chat-template environment."""
    env = _RefusingSandbox(
        loader=jinja2.BaseLoader(),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[IgnoreGenerationTags, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def compile_template(env: jinja2.Environment, source: str, name: str) -> jinja2.Template:
    """Compile ``source``; a syntax error becomes a ``ValueError`` naming the template."""
    if not isinstance(source, str):
        raise TemplateRefused(f"Chat template {name!r} must be a string, not {type(source).__name__}")
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateRefused(f"Chat template {name!r} is not valid Jinja (line {exc.lineno}): {exc.message}") from exc


def render_template(template: jinja2.Template, name: str, variables: Dict[str, Any]) -> str:
    """Render, turning every failure into a ``ValueError`` that names the template."""
    try:
        return template.render(**variables)
    except SecurityError as exc:
        raise TemplateRefused(f"Chat template {name!r} was refused by the sandbox: {exc}") from exc
    except ValueError as exc:  # raise_exception() in the template, or a value error while rendering
        raise TemplateRefused(f"Chat template {name!r} rejected the messages: {exc}") from exc
    except jinja2.TemplateNotFound as exc:
        raise TemplateRefused(
            f"Chat template {name!r} failed to render: it tries to load another template ({exc.name!r}); "
            "chat templates must be self-contained"
        ) from exc
    except Exception as exc:  # anything the template trips over: bad types, undefined names, ...
        raise TemplateRefused(f"Chat template {name!r} failed to render: {type(exc).__name__}: {exc}") from exc


def _stop_on_token_ids(token_ids: Sequence[int]) -> StoppingCriteriaList:
    from .._logits import StoppingCriteriaList

    wanted = frozenset(int(t) for t in token_ids)

    def last_token_is_stop(input_ids: Any, logits: Any) -> bool:
        return len(input_ids) > 0 and int(input_ids[-1]) in wanted

    return StoppingCriteriaList([last_token_is_stop])


class Jinja2ChatFormatter:
    """A ``llama_cpp.llama_chat_format.ChatFormatter`` backed by a Jinja2 chat template.

    Template variables: ``messages``, ``bos_token``, ``eos_token``,
    ``add_generation_prompt``, ``functions``, ``function_call``, ``tools``,
    ``tool_choice``, the helpers ``raise_exception`` and ``strftime_now``, and
    every extra keyword argument given to the call (e.g. ``enable_thinking``).
    ``name`` (keyword only) is used in error messages.
    """

    IgnoreGenerationTags = IgnoreGenerationTags

    def __init__(
        self,
        template: str,
        eos_token: str,
        bos_token: str,
        add_generation_prompt: bool = True,
        stop_token_ids: Optional[List[int]] = None,
        *,
        name: Optional[str] = None,
    ) -> None:
        self.template = template
        self.eos_token = eos_token
        self.bos_token = bos_token
        self.add_generation_prompt = add_generation_prompt
        self.stop_token_ids = set(stop_token_ids) if stop_token_ids is not None else None
        self.name = name or "chat template"
        self._environment = make_environment()
        self._template = compile_template(self._environment, template, self.name)

    strftime_now = staticmethod(strftime_now)
    tojson = staticmethod(tojson)

    def render(
        self,
        *,
        messages: List[llama_types.ChatCompletionRequestMessage],
        functions: Optional[List[llama_types.ChatCompletionFunction]] = None,
        function_call: Optional[llama_types.ChatCompletionRequestFunctionCall] = None,
        tools: Optional[List[llama_types.ChatCompletionTool]] = None,
        tool_choice: Optional[llama_types.ChatCompletionToolChoiceOption] = None,
        **kwargs: Any,
    ) -> str:
        """The prompt text alone."""
        variables: Dict[str, Any] = {
            "eos_token": self.eos_token,
            "bos_token": self.bos_token,
            "raise_exception": raise_exception,
            "strftime_now": strftime_now,
            "add_generation_prompt": self.add_generation_prompt,
            "functions": functions,
            "function_call": function_call,
            "tools": tools,
            "tool_choice": tool_choice,
        }
        variables.update(kwargs)
        variables["messages"] = messages
        try:
            return render_template(self._template, self.name, variables)
        except TemplateRefused:
            # An assistant turn that only calls tools has content None, as OpenAI sends it; many templates
            # (SmolLM2's among them) concatenate content as a string and fail on it. Those that handle None
            # have rendered already; for the others, the same turn with empty content is what they mean.
            if not any(isinstance(m, dict) and "content" in m and m["content"] is None for m in messages):
                raise
            variables["messages"] = [
                {**m, "content": ""} if isinstance(m, dict) and "content" in m and m["content"] is None else m
                for m in messages
            ]
            return render_template(self._template, self.name, variables)

    def __call__(
        self,
        *,
        messages: List[llama_types.ChatCompletionRequestMessage],
        functions: Optional[List[llama_types.ChatCompletionFunction]] = None,
        function_call: Optional[llama_types.ChatCompletionRequestFunctionCall] = None,
        tools: Optional[List[llama_types.ChatCompletionTool]] = None,
        tool_choice: Optional[llama_types.ChatCompletionToolChoiceOption] = None,
        **kwargs: Any,
    ) -> ChatFormatterResponse:
        prompt = self.render(
            messages=messages,
            functions=functions,
            function_call=function_call,
            tools=tools,
            tool_choice=tool_choice,
            **kwargs,
        )
        stopping_criteria = _stop_on_token_ids(sorted(self.stop_token_ids)) if self.stop_token_ids else None
        return ChatFormatterResponse(
            prompt=prompt,
            stop=[self.eos_token] if self.eos_token else None,
            stopping_criteria=stopping_criteria,
            added_special=True,
        )

    def to_chat_handler(self) -> LlamaChatCompletionHandler:
        """This formatter wrapped by the generic adapter."""
        from .adapter import chat_formatter_to_chat_completion_handler

        return chat_formatter_to_chat_completion_handler(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, bos_token={self.bos_token!r}, eos_token={self.eos_token!r})"
