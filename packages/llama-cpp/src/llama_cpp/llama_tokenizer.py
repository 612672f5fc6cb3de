"""Tokenizers a :class:`~llama_cpp.Llama` can use: the model's own, or a Hugging Face one."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, List, Optional

if TYPE_CHECKING:
    from .llama import Llama

__all__ = ["BaseLlamaTokenizer", "LlamaTokenizer", "LlamaHFTokenizer"]


class BaseLlamaTokenizer(abc.ABC):
    @abc.abstractmethod
    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> List[int]:
        """Token ids of ``text`` (``add_bos``: add the model's special prefix; ``special``: parse
        special-token text such as ``<|im_start|>``)."""

    @abc.abstractmethod
    def detokenize(self, tokens: List[int], prev_tokens: Optional[List[int]] = None, special: bool = False) -> bytes:
        """Bytes of ``tokens``; with ``prev_tokens``, as they continue that text."""


class LlamaTokenizer(BaseLlamaTokenizer):
    """The model's own vocabulary (llama.cpp's tokenizer)."""

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
        return self.tokenize(text.encode("utf-8", errors="ignore"), add_bos=add_bos, special=special)

    def decode(self, tokens: List[int]) -> str:
        return self.detokenize(tokens).decode("utf-8", errors="ignore")

    @classmethod
    def from_ggml_file(cls, path: str) -> LlamaTokenizer:
        from .llama import Llama

        return cls(Llama(model_path=path, vocab_only=True, verbose=False))


class LlamaHFTokenizer(BaseLlamaTokenizer):
    """A ``transformers`` tokenizer (for models whose GGUF vocabulary is incomplete)."""

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
        try:
            from transformers import AutoTokenizer
        except ImportError as e:
            raise ImportError(
                "LlamaHFTokenizer needs the transformers package: pip install transformers"
            ) from e
        return cls(AutoTokenizer.from_pretrained(pretrained_model_name_or_path))
