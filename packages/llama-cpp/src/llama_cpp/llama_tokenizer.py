"""Tokenizers a ``Llama`` can use: the model's own, or a Hugging Face one (``Llama(tokenizer=...)``)."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, List, Optional

if TYPE_CHECKING:
    from .llama import Llama

__all__ = ["BaseLlamaTokenizer", "LlamaTokenizer", "LlamaHFTokenizer"]


class BaseLlamaTokenizer(abc.ABC):
    """The interface ``Llama(tokenizer=...)`` expects."""

    @abc.abstractmethod
    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> List[int]:
        """Split text into token ids.

        Args:
            text: UTF-8 text.
            add_bos: Add the model's beginning-of-sequence prefix.
            special: Parse special-token text such as ``<|im_start|>`` as the special
                token instead of as plain text.

        Returns:
            The token ids.
        """

    @abc.abstractmethod
    def detokenize(self, tokens: List[int], prev_tokens: Optional[List[int]] = None, special: bool = False) -> bytes:
        """Turn token ids back into text.

        Args:
            tokens: The token ids.
            prev_tokens: Tokens that come before ``tokens``; the result is the text
                ``tokens`` add after them (leading-space rules depend on context).
            special: Include the text of special tokens.

        Returns:
            UTF-8 bytes (possibly ending inside a multi-byte character).
        """


class LlamaTokenizer(BaseLlamaTokenizer):
    """The model's own vocabulary (llama.cpp's tokenizer), what ``Llama`` uses by default.

    Args:
        llama: An open ``Llama``; the tokenizer uses its model.

    Raises:
        RuntimeError: ``llama`` is closed.
    """

    def __init__(self, llama: Llama):
        if llama._model is None:
            raise RuntimeError("this Llama is closed; create a new one")
        self._model = llama._model

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> List[int]:
        return self._model.tokenize(text, add_bos, special)

    def detokenize(self, tokens: List[int], prev_tokens: Optional[List[int]] = None, special: bool = False) -> bytes:
        if prev_tokens:
            # pieces can depend on what precedes them (leading-space rules): decode in context
            full = self._model.detokenize(list(prev_tokens) + list(tokens), special)
            head = self._model.detokenize(list(prev_tokens), special)
            if full.startswith(head):
                return full[len(head):]
        return self._model.detokenize(tokens, special)

    def encode(self, text: str, add_bos: bool = True, special: bool = True) -> List[int]:
        """Like `tokenize`, for ``str`` text.

        Args:
            text: The text.
            add_bos: Add the model's beginning-of-sequence prefix.
            special: Parse special-token text as special tokens.

        Returns:
            The token ids.
        """
        return self.tokenize(text.encode("utf-8", errors="ignore"), add_bos=add_bos, special=special)

    def decode(self, tokens: List[int]) -> str:
        """Like `detokenize`, returning ``str`` (incomplete characters are dropped).

        Args:
            tokens: The token ids.

        Returns:
            The text.
        """
        return self.detokenize(tokens).decode("utf-8", errors="ignore")

    @classmethod
    def from_ggml_file(cls, path: str) -> LlamaTokenizer:
        """Load only the vocabulary of a GGUF file (no weights) and tokenize with it.

        Args:
            path: The GGUF file.

        Returns:
            The tokenizer.

        Raises:
            ValueError: The file does not exist or is not a model llama.cpp can load.
        """
        from .llama import Llama

        return cls(Llama(model_path=path, vocab_only=True, verbose=False))


class LlamaHFTokenizer(BaseLlamaTokenizer):
    """A Hugging Face ``transformers`` tokenizer, for models whose GGUF vocabulary is incomplete.

    The ``functionary-v1``/``functionary-v2`` chat formats need one.

    Args:
        hf_tokenizer: A ``transformers`` tokenizer object.
    """

    def __init__(self, hf_tokenizer: Any):
        self.hf_tokenizer = hf_tokenizer

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> List[int]:
        return self.hf_tokenizer.encode(text.decode("utf-8", errors="ignore"), add_special_tokens=special)

    def detokenize(self, tokens: List[int], prev_tokens: Optional[List[int]] = None, special: bool = False) -> bytes:
        skip = not special
        if prev_tokens is not None:
            text = self.hf_tokenizer.decode(list(prev_tokens) + list(tokens), skip_special_tokens=skip).encode("utf-8", errors="ignore")
            prev = self.hf_tokenizer.decode(list(prev_tokens), skip_special_tokens=skip).encode("utf-8", errors="ignore")
            return text[len(prev):]
        return self.hf_tokenizer.decode(tokens, skip_special_tokens=skip).encode("utf-8", errors="ignore")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str) -> LlamaHFTokenizer:
        """Load a tokenizer with ``transformers.AutoTokenizer.from_pretrained``.

        Args:
            pretrained_model_name_or_path: A Hugging Face Hub repository id or a local directory.

        Returns:
            The tokenizer.

        Raises:
            ImportError: ``transformers`` is not installed.
        """
        try:
            from transformers import AutoTokenizer
        except ImportError as e:
            raise ImportError(
                "LlamaHFTokenizer needs the transformers package: pip install transformers"
            ) from e
        return cls(AutoTokenizer.from_pretrained(pretrained_model_name_or_path))
