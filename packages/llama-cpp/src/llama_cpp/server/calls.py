"""From request bodies to ``Llama`` calls, and from their results back to responses.

The server adds nothing to sampling, templates or tool calling: it turns the
request into ``create_completion`` / ``create_chat_completion`` keyword
arguments (the extras ``grammar``, ``min_tokens`` and ``logit_bias_type``
become a ``LlamaGrammar``, a logits processor and token ids), fans ``n > 1``
and prompt lists out into one call per choice where the ``Llama`` does not
take ``n`` itself, and merges what comes back.
"""

from __future__ import annotations

import base64
import inspect
import logging
import struct
from functools import cache
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import ApiError
from .types import CreateChatCompletionRequest, CreateCompletionRequest

__all__ = [
    "completion_calls",
    "chat_calls",
    "merge_responses",
    "best_of_choices",
    "stream_usage",
    "check_media_urls",
    "encode_embeddings",
]

logger = logging.getLogger("llama_cpp.server")

_COMMON_EXCLUDE = {
    "model", "n", "best_of", "user", "logit_bias_type", "min_tokens", "grammar", "stream_options", "logit_bias",
    "max_completion_tokens", "chat_template_kwargs", "parallel_tool_calls", "reasoning_effort", "prompt",
}


@cache
def accepts(method: str, name: str) -> bool:
    """Whether ``Llama.<method>`` takes the keyword ``name`` (the engine grows ``n``, ``best_of``, ...)."""
    from ..llama import Llama

    return name in inspect.signature(getattr(Llama, method)).parameters


def _logit_bias(llama: Any, bias: Optional[Dict[str, float]], kind: Optional[str]) -> Optional[Dict[int, float]]:
    if not bias:
        return None
    out: Dict[int, float] = {}
    if kind == "tokens":
        for text, value in bias.items():
            for token in llama.tokenize(text.encode("utf-8"), add_bos=False, special=True):
                out[token] = float(value)
        return out
    n_vocab = llama.n_vocab()
    for key, value in bias.items():
        try:
            token = int(key)
        except ValueError:
            raise ApiError(400, f"logit_bias keys must be token ids, not {key!r} (or set logit_bias_type='tokens')",
                           param="logit_bias") from None
        if not 0 <= token < n_vocab:
            raise ApiError(400, f"logit_bias token id {token} is outside the vocabulary (0..{n_vocab - 1})",
                           param="logit_bias")
        out[token] = float(value)
    return out


def _extras(llama: Any, body: Any, n_ctx: int) -> Dict[str, Any]:
    """The keyword arguments built from this server's extra fields."""
    from ..llama import LogitsProcessorList, MinTokensLogitsProcessor

    kwargs: Dict[str, Any] = {"logit_bias": _logit_bias(llama, body.logit_bias, body.logit_bias_type)}
    if body.grammar is not None:
        from ..llama_grammar import LlamaGrammar

        kwargs["grammar"] = LlamaGrammar.from_string(body.grammar, verbose=False)
    if body.min_tokens > 0:
        kwargs["logits_processor"] = LogitsProcessorList([MinTokensLogitsProcessor(body.min_tokens, llama.token_eos())])
    for key in ("presence_penalty", "frequency_penalty"):
        if getattr(body, key) is None:
            kwargs[key] = 0.0
    return kwargs


def _clamp(max_tokens: Optional[int], n_ctx: int) -> Optional[int]:
    if max_tokens is not None and max_tokens > n_ctx:
        return n_ctx
    return max_tokens


def _fan_out(base: Dict[str, Any], n: int, prompts: Sequence[Any], key: Optional[str]) -> List[Dict[str, Any]]:
    calls = []
    for prompt in prompts:
        for i in range(n):
            call = dict(base)
            if key is not None:
                call[key] = prompt
            if i and call.get("seed") is not None:
                call["seed"] = call["seed"] + i  # n samples, not n copies of one
            calls.append(call)
    return calls


def completion_calls(llama: Any, body: CreateCompletionRequest, alias: str) -> Tuple[List[Dict[str, Any]], int]:
    """``(calls, n_prompts)``: the ``create_completion`` keyword arguments, one dict per choice group."""
    n_ctx = llama.n_ctx()
    base = body.model_dump(exclude=_COMMON_EXCLUDE)
    base.update(_extras(llama, body, n_ctx))
    base["model"] = alias
    base["max_tokens"] = _clamp(body.max_tokens, n_ctx)
    prompt = body.prompt
    prompts: List[Any]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = list(prompt)
    elif isinstance(prompt, list) and not prompt:
        prompts = [""]
    else:
        prompts = [prompt]
    n = body.n or 1
    best_of = max(body.best_of or 1, n)
    if best_of > n and body.stream:
        raise ApiError(400, "best_of cannot be used with stream", param="best_of")
    if accepts("create_completion", "n") and accepts("create_completion", "best_of"):
        # the engine decodes the prompts and their choices as one batch (choice index = prompt * n + k)
        base.update(prompt=prompts if len(prompts) > 1 else prompts[0], n=n)
        if best_of > n:
            base["best_of"] = best_of
        return [base], 1
    copies = best_of
    if best_of > n and not body.logprobs:
        base["logprobs"] = 1  # needed to rank the candidates; removed from the answer again
    return _fan_out(base, copies, prompts, "prompt"), len(prompts)


def _merged_template_kwargs(model_kwargs: Optional[Dict[str, Any]], body: CreateChatCompletionRequest) -> Dict[str, Any]:
    merged: Dict[str, Any] = dict(model_kwargs or {})
    merged.update(body.chat_template_kwargs or {})
    if body.reasoning_effort is not None:
        merged.setdefault("reasoning_effort", body.reasoning_effort)
    if body.parallel_tool_calls is not None:
        merged["parallel_tool_calls"] = body.parallel_tool_calls
    return merged


def check_media_urls(messages: List[Dict[str, Any]], allow_local_files: bool) -> None:
    """Refuse ``file://`` URLs and bare paths as images unless the server allows local files."""
    if allow_local_files:
        return
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str) or not url.lower().startswith(("data:", "http://", "https://")):
                raise ApiError(
                    400,
                    "image_url must be a data: or http(s) URL; this server does not read local files "
                    "(start it with --allow_local_files to allow file:// URLs and paths)",
                    param=f"messages.{i}.content.{j}.image_url",
                )


def chat_calls(llama: Any, body: CreateChatCompletionRequest, alias: str,
               model_template_kwargs: Optional[Dict[str, Any]], allow_local_files: bool) -> List[Dict[str, Any]]:
    """The ``create_chat_completion`` keyword arguments, one dict per choice (or one with ``n``)."""
    check_media_urls(body.messages, allow_local_files)
    n_ctx = llama.n_ctx()
    base = body.model_dump(exclude=_COMMON_EXCLUDE)
    base.update(_extras(llama, body, n_ctx))
    base["model"] = alias
    max_tokens = body.max_tokens if body.max_tokens is not None else body.max_completion_tokens
    base["max_tokens"] = _clamp(max_tokens, n_ctx)
    if not body.logprobs:
        base["top_logprobs"] = None
    base.update(_merged_template_kwargs(model_template_kwargs, body))
    n = body.n or 1
    # the engine evaluates the prompt once for n answers; tool-calling handlers answer one choice per call
    if accepts("create_chat_completion", "n") and not (body.tools or body.functions):
        base["n"] = n
        return [base]
    return _fan_out(base, n, [None], None)


def merge_responses(responses: List[Dict[str, Any]], n_prompts: int = 1) -> Dict[str, Any]:
    """One response from the responses of fanned-out calls: choices re-indexed, usage added up."""
    if len(responses) == 1:
        return responses[0]
    merged = dict(responses[0])
    choices: List[Dict[str, Any]] = []
    prompt_tokens = completion_tokens = 0
    per_prompt = len(responses) // max(n_prompts, 1)
    for i, response in enumerate(responses):
        for choice in response.get("choices", []):
            choice = dict(choice)
            choice["index"] = len(choices)
            choices.append(choice)
        usage = response.get("usage") or {}
        if i % per_prompt == 0:
            prompt_tokens += usage.get("prompt_tokens", 0)
        completion_tokens += usage.get("completion_tokens", 0)
    merged["choices"] = choices
    merged["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                       "total_tokens": prompt_tokens + completion_tokens}
    return merged


def best_of_choices(response: Dict[str, Any], n: int, best_of: int, keep_logprobs: bool) -> Dict[str, Any]:
    """Keep, per prompt, the ``n`` of ``best_of`` candidates with the highest mean token logprob."""
    if best_of <= n:
        return response
    choices = response["choices"]
    kept: List[Dict[str, Any]] = []
    for start in range(0, len(choices), best_of):
        group = choices[start:start + best_of]

        def score(choice: Dict[str, Any]) -> float:
            values = [v for v in ((choice.get("logprobs") or {}).get("token_logprobs") or []) if v is not None]
            return sum(values) / len(values) if values else float("-inf")

        kept.extend(sorted(group, key=score, reverse=True)[:n])
    for i, choice in enumerate(kept):
        choice["index"] = i
        if not keep_logprobs:
            choice["logprobs"] = None
    return dict(response, choices=kept)


def _choice_texts(chunks: List[Dict[str, Any]]) -> Dict[int, str]:
    """The text each choice of a stream generated (content, or tool call names and arguments)."""
    texts: Dict[int, List[str]] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            parts = texts.setdefault(int(choice.get("index") or 0), [])
            if "text" in choice:
                parts.append(choice.get("text") or "")
            delta = choice.get("delta") or {}
            parts.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                function = call.get("function") or {}
                parts.append((function.get("name") or "") + (function.get("arguments") or ""))
    return {index: "".join(parts) for index, parts in texts.items()}


def _prompt_tokens_completion(llama: Any, call: Dict[str, Any]) -> int:
    prompt = call.get("prompt", "")
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
        return sum(_prompt_tokens_completion(llama, dict(call, prompt=p)) for p in prompt)
    if isinstance(prompt, list):
        return len(prompt)
    return len(llama.tokenize(str(prompt).encode("utf-8"), add_bos=True, special=False))


def _prompt_tokens_chat(llama: Any, call: Dict[str, Any]) -> int:
    try:
        from .._chat.dispatch import resolve_chat_handler

        formatter = getattr(resolve_chat_handler(llama), "chat_formatter", None)
        if formatter is not None:
            known = {"messages", "functions", "function_call", "tools", "tool_choice"}
            extra = {k: v for k, v in call.items() if k not in known and k not in _CHAT_CALL_ARGS}
            result = formatter(messages=call["messages"], functions=call.get("functions"),
                               function_call=call.get("function_call"), tools=call.get("tools"),
                               tool_choice=call.get("tool_choice"), **extra)
            return len(llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True))
    except Exception as exc:  # usage is best effort; never fail a finished stream over it
        logger.debug("prompt token count by template failed: %s", exc)
    text = " ".join(str(m.get("content") or "") for m in call.get("messages", []) if isinstance(m, dict))
    return len(llama.tokenize(text.encode("utf-8"), add_bos=True, special=False))


_CHAT_CALL_ARGS = {
    "temperature", "top_p", "top_k", "min_p", "typical_p", "stream", "stop", "seed", "response_format", "max_tokens",
    "presence_penalty", "frequency_penalty", "repeat_penalty", "tfs_z", "mirostat_mode", "mirostat_tau",
    "mirostat_eta", "model", "logits_processor", "grammar", "logit_bias", "logprobs", "top_logprobs", "n",
}


def stream_usage(llama: Any, calls: List[Dict[str, Any]], chunks: List[List[Dict[str, Any]]], chat: bool,
                 n_prompts: int = 1) -> Dict[str, int]:
    """Token usage of a finished stream: the engine's where chunks carry it, else counted here."""
    reported = [c["usage"] for source in chunks for c in source if isinstance(c.get("usage"), dict)]
    if reported and len(reported) >= len(chunks):
        prompt = sum(u.get("prompt_tokens", 0) for u in reported[:: max(len(reported) // max(n_prompts, 1), 1)])
        completion = sum(u.get("completion_tokens", 0) for u in reported)
    else:
        per_prompt = max(len(calls) // max(n_prompts, 1), 1)
        prompt = 0
        for i in range(0, len(calls), per_prompt):
            prompt += _prompt_tokens_chat(llama, calls[i]) if chat else _prompt_tokens_completion(llama, calls[i])
        completion = 0
        for source in chunks:
            for text in _choice_texts(source).values():
                if text:
                    completion += len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def encode_embeddings(response: Dict[str, Any], encoding_format: Optional[str]) -> Dict[str, Any]:
    """``encoding_format="base64"``: each vector as little-endian float32 bytes in base64 (what the SDK asks for)."""
    if encoding_format != "base64":
        return response
    data = []
    for item in response.get("data", []):
        vector = item["embedding"]
        if vector and isinstance(vector[0], list):  # token-level embeddings: not representable, keep floats
            data.append(item)
            continue
        packed = struct.pack(f"<{len(vector)}f", *vector)
        data.append(dict(item, embedding=base64.b64encode(packed).decode("ascii")))
    return dict(response, data=data)
