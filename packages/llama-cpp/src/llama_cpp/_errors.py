"""The exceptions ``llama_cpp`` raises.

Every one derives from `LlamaError` and also from the builtin that
callers of the API we replace already catch: ``ValueError`` for bad arguments
(a prompt longer than the context, an unknown chat format), ``RuntimeError``
for a closed model or a failed decode.
"""

from __future__ import annotations

__all__ = [
    "LlamaError",
    "LlamaArgumentError",
    "ContextOverflowError",
    "LlamaClosedError",
    "LlamaDecodeError",
    "context_overflow",
    "decode_error",
]


class LlamaError(Exception):
    """Base class of the errors raised by ``llama_cpp``."""


class LlamaArgumentError(LlamaError, ValueError):
    """An argument the call cannot use (wrong value, unknown name, unsupported combination)."""


class ContextOverflowError(LlamaArgumentError):
    """The tokens asked for do not fit the context window (``n_ctx``)."""


class LlamaClosedError(LlamaError, RuntimeError):
    """The ``Llama`` was closed; create a new one."""


class LlamaDecodeError(LlamaError, RuntimeError):
    """``llama_decode`` failed; `code` is its return value."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def context_overflow(requested: int, n_ctx: int) -> ContextOverflowError:
    """The error for ``requested`` tokens in an ``n_ctx`` window.

    The wording is exactly the reference's: servers and clients match it to
    recognise a context overflow (the OpenAI-compatible server turns it into
    its ``context_length_exceeded`` error).
    """
    return ContextOverflowError(f"Requested tokens ({requested}) exceed context window of {n_ctx}")


def decode_error(code: int, n_tokens: int) -> LlamaDecodeError:
    """Explain a non-zero ``llama_decode`` return value for a batch of ``n_tokens``."""
    if code == 1:
        what = (
            f"no free KV cache cells for a batch of {n_tokens} tokens: the context is full. "
            "Use a larger n_ctx, fewer parallel sequences, or shorter prompts"
        )
    elif code == 2:
        what = "the decode was aborted (an abort callback asked it to stop); the context keeps the tokens before the batch"
    elif code < 0:
        what = (
            f"llama.cpp rejected the batch of {n_tokens} tokens as invalid (a token id outside the vocabulary, "
            "a position out of order or a sequence id >= n_seq_max); this is a bug if it came from Llama's own methods"
        )
    else:
        what = "llama.cpp reported a failure (see the log for details)"
    return LlamaDecodeError(f"llama_decode returned {code}: {what}", code)
