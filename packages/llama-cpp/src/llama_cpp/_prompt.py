"""Prompts as tokens: text, token lists, fill-in-the-middle, lists of prompts, and their checks."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

from ._errors import LlamaArgumentError, context_overflow
from ._numpy import np

if TYPE_CHECKING:
    from ._internals import LlamaModel

__all__ = ["prompt_tokens", "check_prompt", "prompt_list", "choice_counts"]

Tokenize = Callable[[bytes, bool, bool], List[int]]


def prompt_tokens(model: LlamaModel, tokenize: Tokenize, n_vocab: int, prompt: Any, suffix: Optional[str],
                  spm_infill: bool) -> List[int]:
    """The tokens of one prompt: a ``str`` (BOS and special tokens as the model wants) or token ids."""
    if isinstance(prompt, str):
        if suffix is not None:
            return infill_tokens(model, tokenize, prompt, suffix, spm_infill)
        bos = model.token_bos()
        tokens: List[int] = []
        if model.add_bos_token() and bos != -1:
            tokens.append(bos)
        if prompt:
            tokens += tokenize(prompt.encode("utf-8"), False, True)
        sep = model.token_sep()
        if sep != -1:
            tokens.append(sep)
        elif model.add_eos_token():
            tokens.append(model.token_eos())
        return tokens
    if isinstance(prompt, (list, tuple, np.ndarray)):
        out = [int(t) for t in prompt]
        for t in out:
            if not 0 <= t < n_vocab:
                raise ValueError(f"prompt token {t} is not a token id of this model (0..{n_vocab - 1})")
        if suffix is not None:
            raise ValueError("suffix needs a str prompt")
        return out
    raise TypeError(f"prompt must be a str or a list of token ids, not {type(prompt).__name__}")


def infill_tokens(model: LlamaModel, tokenize: Tokenize, prompt: str, suffix: str, spm_infill: bool) -> List[int]:
    """A fill-in-the-middle prompt: prefix and suffix around the model's FIM tokens."""
    pre, mid, suf = model.token_prefix(), model.token_middle(), model.token_suffix()
    if -1 in (pre, mid, suf):
        raise ValueError("this model has no fill-in-the-middle tokens (FIM_PRE/FIM_SUF/FIM_MID); suffix needs an infill model")
    prefix_ids = [pre] + tokenize(prompt.encode("utf-8"), False, False)
    suffix_ids = [suf] + tokenize(suffix.encode("utf-8"), False, False)
    body = suffix_ids + prefix_ids if spm_infill else prefix_ids + suffix_ids
    bos = model.token_bos()
    head = [bos] if model.add_bos_token() and bos != -1 else []
    return head + body + [mid]


def non_empty(model: LlamaModel, tokens: List[int]) -> List[int]:
    """An empty prompt becomes the BOS token (or EOS for models without one)."""
    if tokens:
        return tokens
    bos = model.token_bos()
    return [bos if bos != -1 else model.token_eos()]


def check_prompt(model: LlamaModel, n_ctx: int, tokens: List[int]) -> None:
    """Raise if the prompt leaves no room to generate; warn about a doubled BOS."""
    if len(tokens) >= n_ctx:
        raise context_overflow(len(tokens), n_ctx)
    bos = model.token_bos()
    if len(tokens) >= 2 and tokens[0] == bos == tokens[1]:
        warnings.warn(
            f'Detected duplicate leading "{model.token_get_text(bos)}" in prompt, this will likely reduce '
            "response quality, consider removing it...",
            RuntimeWarning,
            stacklevel=4,
        )


def prompt_list(prompt: Any) -> Optional[List[Any]]:
    """The prompts of a batched call (a list of str or of token lists), or None for one prompt."""
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(p, (str, list, tuple)) for p in prompt):
        if any(isinstance(p, (list, tuple)) and not p for p in prompt):
            raise LlamaArgumentError("a prompt in the list is an empty list of tokens")
        return list(prompt)
    return None


def choice_counts(n: Any, best_of: Any) -> Tuple[int, int]:
    """(n, candidates per prompt), checked as OpenAI defines them: 1 <= n <= best_of."""
    for name, value in (("n", n), ("best_of", best_of)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise LlamaArgumentError(f"{name} must be a positive int, not {value!r}")
    best = n if best_of is None else best_of
    if best < n:
        raise LlamaArgumentError(f"best_of ({best_of}) must be at least n ({n})")
    return n, best
